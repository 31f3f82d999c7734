"""The figures of the analyses (matplotlib): drawn from tables, saved as PDF and PNG with a caption."""
