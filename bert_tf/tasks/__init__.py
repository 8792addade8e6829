"""Task data: files -> examples -> fixed-length features."""
