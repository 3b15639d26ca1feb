//! SQL text with bound parameters: every value a user can choose (project names, event names, property keys and
//! values, patterns, the time zone) travels as a ClickHouse query parameter (`{p0:String}`), sent apart from the SQL
//! text, so no value can change what the SQL says.

use std::fmt::Write as _;

/// A statement and the values of its parameters, as ClickHouse's HTTP interface takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The SQL text, with `{name:Type}` placeholders.
    pub sql: String,
    /// Parameter name and value, in ClickHouse's escaped text form.
    pub params: Vec<(String, String)>,
}

impl Query {
    /// A statement without parameters.
    pub fn text(sql: impl Into<String>) -> Query {
        Query {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    /// The SQL with each parameter's value in a comment above it, for people (`--explain`); never sent.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.params {
            let _ = writeln!(out, "-- {name} = {value}");
        }
        out.push_str(&self.sql);
        out
    }
}

/// Hands out placeholders and keeps the values.
#[derive(Debug, Default)]
pub struct Binder {
    params: Vec<(String, String)>,
}

impl Binder {
    /// A placeholder for a string.
    pub fn string(&mut self, value: &str) -> String {
        self.bind("String", escape(value))
    }

    /// A placeholder for a signed integer.
    pub fn int(&mut self, value: i64) -> String {
        self.bind("Int64", value.to_string())
    }

    /// A placeholder for an unsigned integer.
    pub fn uint(&mut self, value: u64) -> String {
        self.bind("UInt64", value.to_string())
    }

    /// A placeholder for a float (finite).
    pub fn float(&mut self, value: f64) -> String {
        // `{:?}` keeps enough digits to read back the same value.
        self.bind("Float64", format!("{value:?}"))
    }

    /// A placeholder for a list of strings.
    pub fn strings(&mut self, values: &[impl AsRef<str>]) -> String {
        let items: Vec<String> = values
            .iter()
            .map(|v| format!("'{}'", escape(v.as_ref())))
            .collect();
        self.bind("Array(String)", format!("[{}]", items.join(",")))
    }

    /// A placeholder for a list of unsigned integers.
    pub fn uints(&mut self, values: &[u64]) -> String {
        let items: Vec<String> = values.iter().map(u64::to_string).collect();
        self.bind("Array(UInt64)", format!("[{}]", items.join(",")))
    }

    fn bind(&mut self, ty: &str, value: String) -> String {
        let name = format!("p{}", self.params.len());
        let placeholder = format!("{{{name}:{ty}}}");
        self.params.push((name, value));
        placeholder
    }

    /// The statement with its parameters.
    pub fn finish(self, sql: String) -> Query {
        Query {
            sql,
            params: self.params,
        }
    }
}

/// A value in ClickHouse's escaped text form: backslash, quote and control characters as backslash sequences.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_reach_the_sql_text() {
        let mut b = Binder::default();
        let evil = "x'); DROP TABLE t; --\t\\";
        let s = b.string(evil);
        let l = b.strings(&["a'b", "c\\d"]);
        let q = b.finish(format!("SELECT {s}, {l}"));
        assert_eq!(q.sql, "SELECT {p0:String}, {p1:Array(String)}");
        assert_eq!(q.params[0].1, "x\\'); DROP TABLE t; --\\t\\\\");
        assert_eq!(q.params[1].1, "['a\\'b','c\\\\d']");
    }
}
