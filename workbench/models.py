from django.db import models


class BaseModel(models.Model):
    """Timestamps every table carries."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
