//! Tokens with spans: case-insensitive keywords and their aliases, literals, comments, line breaks. (lang-front)
