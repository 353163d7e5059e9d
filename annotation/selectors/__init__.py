"""Reads: every query a view or API needs, with the permission check in the same place (never only in a
template). Split by sub-domain; import from `annotation.selectors`."""

from annotation.selectors.annotate import (
    AnnotationItem,
    AnnotatorProgress,
    annotation_item,
    annotator_progress,
    annotator_projects,
    assignment_get_for_annotator,
    project_get_for_annotating,
    project_progress_by_annotator,
    project_progress_by_comparison,
)
from annotation.selectors.jobs import (
    PROGRESS_KEY,
    import_job_get,
    import_job_list,
    import_job_live_progress,
)
from annotation.selectors.projects import (
    User,
    project_counts,
    project_get,
    project_list_for_user,
    project_sample,
    role_of,
)

__all__ = [
    "PROGRESS_KEY",
    "AnnotationItem",
    "AnnotatorProgress",
    "User",
    "annotation_item",
    "annotator_progress",
    "annotator_projects",
    "assignment_get_for_annotator",
    "import_job_get",
    "import_job_list",
    "import_job_live_progress",
    "project_counts",
    "project_get",
    "project_get_for_annotating",
    "project_list_for_user",
    "project_progress_by_annotator",
    "project_progress_by_comparison",
    "project_sample",
    "role_of",
]
