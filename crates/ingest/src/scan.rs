//! A fast path for a `properties` object given as JSON text: one pass over the bytes writes its canonical form
//! (events.md §8) without building a tree of values.
//!
//! The scanner takes only the common case: valid JSON with no escapes in strings, no exponents in numbers, no
//! duplicate keys, keys below U+E000 (where UTF-8 byte order and UTF-16 order agree) and moderate nesting. For
//! anything else it returns `None` and the caller takes the general path (`serde_json` and
//! [`crate::canonical`]), which also produces every rejection. Both paths give the same text for every input the
//! scanner accepts; the tests below and the `properties` fuzz target check that.

use serde_json::{Map, Value};

use crate::validate::is_read;

/// Deepest nesting the scanner handles; deeper input goes to the general path (which enforces the limit).
const MAX_DEPTH: usize = 32;

/// A properties object in canonical form, with the top-level keys validation reads.
#[derive(Debug)]
pub(crate) struct Scanned {
    /// The object as canonical JSON.
    pub(crate) canonical: String,
    /// The top-level entries whose keys [`is_read`] names, as values; every other key is left out.
    pub(crate) read: Map<String, Value>,
}

/// Canonicalises `text` when it is a JSON object the fast path covers.
pub(crate) fn scan_properties(text: &str) -> Option<Scanned> {
    // The member list and the reordering room are kept per thread: they are scratch space, and an event stream
    // calls this once per event.
    let (members, scratch) = SPARE.with(|spare| std::mem::take(&mut *spare.borrow_mut()));
    let mut s = Scanner {
        text,
        b: text.as_bytes(),
        i: 0,
        out: String::with_capacity(text.len()),
        members,
        scratch,
        read: Vec::new(),
    };
    let scanned = s.scan();
    let mut members = std::mem::take(&mut s.members);
    members.clear();
    let scratch = std::mem::take(&mut s.scratch);
    SPARE.with(|spare| *spare.borrow_mut() = (members, scratch));
    scanned?;
    let mut read = Map::new();
    for (key, start, end) in s.read {
        let value: Value = serde_json::from_str(&s.out[start..end]).ok()?;
        read.insert(key, value);
    }
    Some(Scanned {
        canonical: s.out,
        read,
    })
}

thread_local! {
    static SPARE: std::cell::RefCell<(Vec<Member>, String)> = const {
        std::cell::RefCell::new((Vec::new(), String::new()))
    };
}

/// Output is copied from `text` in slices cut at ASCII delimiters (quotes, commas, brackets, number ends), so every
/// slice falls on a character boundary.
struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    out: String,
    /// The members of the objects being written, innermost last: each object works on the part above where its
    /// own members start, and truncates it back when done.
    members: Vec<Member>,
    /// Room for an object's members while they are written back in key order.
    scratch: String,
    /// Top-level keys that validation reads, with the range of their canonical value in `out`. Ranges are
    /// resolved after the whole object is written, since reordering moves them.
    read: Vec<(String, usize, usize)>,
}

/// One member of an object being written: its key (raw bytes of the input) and where `"key":value` sits in `out`.
struct Member {
    key: (usize, usize),
    start: usize,
    end: usize,
}

impl Scanner<'_> {
    /// Writes the whole of `text`, which must be one object.
    fn scan(&mut self) -> Option<()> {
        self.ws();
        if self.peek()? != b'{' {
            return None;
        }
        self.object(0)?;
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let (s, e) = self.string()?;
                self.out.push('"');
                self.out.push_str(&self.text[s..e]);
                self.out.push('"');
                Some(())
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            self.out.push_str(word);
            Some(())
        } else {
            None
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, copied as it is; an exponent leaves the fast path.
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            let at = self.i;
            self.digits();
            if self.i == at {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E' | b'0'..=b'9')) {
            return None;
        }
        self.out.push_str(&self.text[start..self.i]);
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters; returns the range of its content.
    fn string(&mut self) -> Option<(usize, usize)> {
        self.i += 1;
        let start = self.i;
        let rest = &self.b[start..];
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[end] != b'"' || rest[..end].iter().any(|&c| c < 0x20) {
            return None;
        }
        self.i = start + end + 1;
        Some((start, start + end))
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.out.push('[');
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            self.out.push(']');
            return Some(());
        }
        loop {
            self.ws();
            self.value(depth)?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.out.push(',');
                }
                b']' => {
                    self.i += 1;
                    self.out.push(']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Writes an object with its members in key order. Depth 0 is the properties object itself.
    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let open = self.out.len();
        self.out.push('{');
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            self.out.push('}');
            return Some(());
        }
        let base = self.members.len();
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            if self.b[key.0..key.1].iter().any(|&c| c >= 0xee) {
                return None;
            }
            self.ws();
            self.expect(b':')?;
            self.ws();
            if self.members.len() > base {
                self.out.push(',');
            }
            let start = self.out.len();
            self.out.push('"');
            self.out.push_str(&self.text[key.0..key.1]);
            self.out.push_str("\":");
            self.value(depth)?;
            self.members.push(Member {
                key,
                start,
                end: self.out.len(),
            });
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        let mut members = std::mem::take(&mut self.members);
        let result = self.close_object(open, depth, &mut members[base..]);
        members.truncate(base);
        self.members = members;
        result
    }

    /// Puts the members of the object opened at `open` in key order and closes it.
    fn close_object(&mut self, open: usize, depth: usize, members: &mut [Member]) -> Option<()> {
        let b = self.b;
        let key = |m: &Member| &b[m.key.0..m.key.1];
        let sorted = members.windows(2).all(|w| key(&w[0]) < key(&w[1]));
        if !sorted {
            members.sort_unstable_by(|x, y| key(x).cmp(key(y)));
            if members.windows(2).any(|w| key(&w[0]) == key(&w[1])) {
                return None;
            }
            let base = open + 1;
            let mut written = std::mem::take(&mut self.scratch);
            written.clear();
            written.push_str(&self.out[base..]);
            self.out.truncate(base);
            for (n, m) in members.iter_mut().enumerate() {
                if n > 0 {
                    self.out.push(',');
                }
                let start = self.out.len();
                self.out.push_str(&written[m.start - base..m.end - base]);
                m.end = self.out.len();
                m.start = start;
            }
            self.scratch = written;
        }
        self.out.push('}');
        if depth == 0 {
            for m in members.iter() {
                let k = &self.text[m.key.0..m.key.1];
                if is_read(k) {
                    // The value follows `"key":`.
                    self.read
                        .push((k.to_string(), m.start + k.len() + 3, m.end));
                }
            }
        }
        Some(())
    }
}

/// What the general path makes of `text`: its canonical form and the keys validation reads.
fn general(text: &str) -> Option<(String, Map<String, Value>)> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => {
            let read = m
                .iter()
                .filter(|(k, _)| is_read(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Some((crate::canonical::canonical_json(&Value::Object(m)), read))
        }
        _ => None,
    }
}

/// Checks the fast path against the general path on `text`: `Ok(true)` when the fast path took it and both agree,
/// `Ok(false)` when it left `text` to the general path, `Err` describing the divergence otherwise.
pub(crate) fn check_agreement(text: &str) -> Result<bool, String> {
    let Some(fast) = scan_properties(text) else {
        return Ok(false);
    };
    let Some((canonical, read)) = general(text) else {
        return Err(format!(
            "the fast path accepted what serde_json refuses: {text:?}"
        ));
    };
    if fast.canonical != canonical {
        return Err(format!(
            "canonical forms differ for {text:?}: fast {:?}, general {canonical:?}",
            fast.canonical
        ));
    }
    if fast.read != read {
        return Err(format!(
            "read keys differ for {text:?}: fast {:?}, general {read:?}",
            fast.read
        ));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn agrees(text: &str) -> Result<bool, TestCaseError> {
        check_agreement(text).map_err(TestCaseError::fail)
    }

    #[test]
    fn common_objects_take_the_fast_path() {
        let cases = [
            (r#"{}"#, "{}"),
            (
                r#" { "b" : 1 , "a" : [ true , null , -0.50 ] } "#,
                r#"{"a":[true,null,-0.50],"b":1}"#,
            ),
            (
                r#"{"$set":{"plan":"free","country":"US"},"$anon_distinct_id":"anon-1"}"#,
                r#"{"$anon_distinct_id":"anon-1","$set":{"country":"US","plan":"free"}}"#,
            ),
            (r#"{"é":"ü","e":"日本"}"#, r#"{"e":"日本","é":"ü"}"#),
            (
                r#"{"n":12345678901234567890123}"#,
                r#"{"n":12345678901234567890123}"#,
            ),
        ];
        for (text, want) in cases {
            let got = scan_properties(text).unwrap_or_else(|| panic!("{text} left the fast path"));
            assert_eq!(got.canonical, want);
            assert_eq!(Some(got.canonical), general(text).map(|g| g.0));
        }
        let s = scan_properties(r#"{"$ai_model":"m","x":1,"$ai_input_tokens":"12","alias":null}"#)
            .unwrap();
        let keys: Vec<&str> = s.read.keys().map(String::as_str).collect();
        assert_eq!(keys, ["$ai_input_tokens", "$ai_model", "alias"]);
    }

    #[test]
    fn unusual_or_invalid_text_leaves_the_fast_path() {
        for text in [
            r#"{"a":"x\"y"}"#,
            r#"{"a\u0041":1}"#,
            r#"{"a":1e3}"#,
            r#"{"a":1,"a":2}"#,
            "{\"\u{e000}\":1}",
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":tru}"#,
            r#"{"a":1} x"#,
            r#"[1]"#,
            r#""{}""#,
            "{\"a\":\"\t\"}",
            r#"{"a" 1}"#,
            r#"{"a":1"#,
            "",
        ] {
            assert!(
                scan_properties(text).is_none(),
                "{text:?} should leave the fast path"
            );
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert!(scan_properties(&deep).is_none());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            1 => Just(Value::Null),
            1 => any::<bool>().prop_map(Value::Bool),
            1 => any::<i64>().prop_map(Value::from),
            1 => "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,6})?".prop_map(|t| serde_json::from_str(&t).unwrap()),
            // Mostly text the fast path takes; sometimes characters that need escapes or leave it.
            4 => "[a-z0-9 /:é日\u{1f600}]{0,8}".prop_map(Value::String),
            1 => "[a-z\u{e000}\"\\\\\n]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("(\\$ai_|alias|\\$set|[a-zé]){1,2}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Writes `v` as JSON with random whitespace and the members of each object in a shuffled order.
    fn scramble(v: &Value, seed: &mut u64, out: &mut String) {
        fn next(seed: &mut u64) -> usize {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 33) as usize
        }
        let ws = [" ", "", "\n", "\t ", "\r\n"];
        let w = ws[next(seed) % ws.len()];
        out.push_str(w);
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                for i in (1..entries.len()).rev() {
                    entries.swap(i, next(seed) % (i + 1));
                }
                out.push('{');
                for (n, (k, v)) in entries.into_iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(ws[next(seed) % ws.len()]);
                    out.push(':');
                    scramble(v, seed, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    scramble(item, seed, out);
                }
                out.push(']');
            }
            other => out.push_str(&serde_json::to_string(other).unwrap()),
        }
        out.push_str(w);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn fast_path_matches_the_general_path(
            kv in prop::collection::vec(("(\\$ai_|alias|[a-z\u{e000}]){1,3}", arb_json()), 0..8),
            seed in any::<u64>(),
        ) {
            let v = Value::Object(kv.into_iter().collect());
            let mut text = String::new();
            let mut s = seed;
            scramble(&v, &mut s, &mut text);
            agrees(&text)?;
        }

        #[test]
        fn damaged_text_never_diverges(
            kv in prop::collection::vec(("[a-z]{1,3}", arb_json()), 1..6),
            cut in any::<prop::sample::Index>(),
            byte in prop::sample::select(vec![b'"', b',', b'}', b']', b'{', b':', b'-', b'.', b'0', b'e', b' ', b'\\', b'x']),
            replace in any::<bool>(),
        ) {
            let text = serde_json::to_string(&Value::Object(kv.into_iter().collect())).unwrap();
            let mut bytes = text.into_bytes();
            let at = cut.index(bytes.len());
            if replace {
                bytes[at] = byte;
            } else {
                bytes.insert(at, byte);
            }
            if let Ok(text) = String::from_utf8(bytes) {
                agrees(&text)?;
            }
        }
    }
}
