"""rchain-console: the Textual operator console. The only package that imports Textual."""
