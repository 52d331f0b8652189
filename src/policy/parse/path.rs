//! Element paths (`Statement[2].Condition...`), built only when an error is reported.

use super::PolicyParseError;

pub(super) fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}.{rest}")
    }
}

/// Where an element sits in a document, e.g. `Statement[2].Condition.StringEquals`. Built on the
/// stack while walking the document and only rendered to text when an error names it, so a
/// valid document costs no path strings.
#[derive(Clone, Copy)]
pub(super) enum Path<'a> {
    /// A rendered prefix (empty at the document root).
    Root(&'a str),
    /// `parent.key` (just `key` when the parent renders empty).
    Key(&'a Path<'a>, &'a str),
    /// `parent[i]`.
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    pub(super) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path::Key(self, key)
    }

    pub(super) fn index(&'a self, i: usize) -> Path<'a> {
        Path::Index(self, i)
    }

    pub(super) fn write_to(&self, out: &mut String) {
        match self {
            Path::Root(s) => out.push_str(s),
            Path::Key(parent, key) => {
                parent.write_to(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Path::Index(parent, i) => {
                parent.write_to(out);
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }
}

impl PolicyParseError {
    /// An element error at `path` (rendered only now, on the error path).
    pub(super) fn at(origin: &str, path: &Path<'_>, message: impl Into<String>) -> Self {
        Self::element(origin, path.render(), message)
    }
}
