"""The rules of the domain, once, without Django: orderings to induced pairs and margins (`pairs`), agreement and the
noise rate it implies (`agreement`), consensus across judges (`consensus`), and the one train/test split (`split`).
Exports, training and the pages import from here; plain values in, plain values out."""
