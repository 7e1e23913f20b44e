//! Byte spans into a module's source text, and the line/column map that turns them into
//! `file:line:col` for diagnostics.
//!
//! Every token, AST node and diagnostic carries a [`Span`], so any later stage (checker,
//! compiler, evaluator) can point at the exact text that caused a problem.

/// A half-open byte range `start..end` into the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub const fn new(start: u32, end: u32) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(self) -> u32 {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Maps byte offsets to 1-based line and column numbers (columns count characters, not bytes).
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset at which each line starts.
    line_starts: Vec<u32>,
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

impl LineIndex {
    pub fn new(source: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i as u32 + 1));
        LineIndex { line_starts }
    }

    /// Line and column of a byte offset (clamped to the text).
    pub fn line_col(&self, source: &str, offset: u32) -> LineCol {
        let offset = offset.min(source.len() as u32);
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line] as usize;
        let col = source
            .get(start..offset as usize)
            .map_or(offset as usize - start, |s| s.chars().count());
        LineCol {
            line: line as u32 + 1,
            col: col as u32 + 1,
        }
    }

    /// The text of a 1-based line, without its line break (`\n` or `\r\n`).
    pub fn line_text<'a>(&self, source: &'a str, line: u32) -> &'a str {
        let i = (line as usize)
            .saturating_sub(1)
            .min(self.line_starts.len() - 1);
        let start = self.line_starts[i] as usize;
        let end = self
            .line_starts
            .get(i + 1)
            .map_or(source.len(), |&e| e as usize);
        source[start..end].trim_end_matches(['\n', '\r'])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let src = "MODULE a\r\n  ÄT x\nlast";
        let idx = LineIndex::new(src);
        assert_eq!(idx.line_col(src, 0), LineCol { line: 1, col: 1 });
        let t = src.find('T').unwrap() as u32;
        assert_eq!(idx.line_col(src, t), LineCol { line: 2, col: 4 });
        assert_eq!(idx.line_text(src, 1), "MODULE a");
        assert_eq!(idx.line_text(src, 3), "last");
        assert_eq!(
            idx.line_col(src, src.len() as u32),
            LineCol { line: 3, col: 5 }
        );
    }
}
