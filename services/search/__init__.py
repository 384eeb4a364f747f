"""Search over the video catalog: tags, and the words of names and descriptions."""
