//! Line-oriented recursive-descent parser: text to ast::Module plus all diagnostics; never fails outright. (lang-front)
