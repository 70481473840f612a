"""Page builders of the reproductions in docs/reproductions/: each reads only the results store."""
