//! A client of ClickHouse's HTTP interface: a query with bound parameters (`param_<name>`, never spliced into the
//! SQL text), an insert with its rows in the body, and the server's error message when it refuses.

use std::time::Duration;

use crate::sql::Query;
use crate::{Error, Result};

/// Settings sent with every statement.
const SETTINGS: &[(&str, &str)] = &[
    ("join_use_nulls", "0"),
    ("wait_end_of_query", "1"),
    ("result_overflow_mode", "throw"),
    ("read_overflow_mode", "throw"),
    ("group_by_overflow_mode", "throw"),
    ("set_overflow_mode", "throw"),
    ("join_overflow_mode", "throw"),
    ("timeout_overflow_mode", "throw"),
];

/// The most a result may hold: report queries return cells, not events.
const MAX_RESULT_BYTES: u64 = 1 << 30;

/// Where the data lives and who asks.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `http://host:8123` or `https://…:8443`.
    pub url: String,
    /// The database holding liucun's tables.
    pub database: String,
    /// The user (`default` when `None`).
    pub user: Option<String>,
    /// Its password.
    pub password: Option<String>,
}

/// A client bound to one server and database.
#[derive(Debug)]
pub struct Client {
    conn: Connection,
    agent: ureq::Agent,
}

impl Client {
    /// A client; nothing is sent until the first query.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the URL is not `http://` or `https://`, or the database name is not a plain
    /// identifier.
    pub fn new(conn: Connection) -> Result<Client> {
        if !(conn.url.starts_with("http://") || conn.url.starts_with("https://")) {
            return Err(Error::Invalid {
                field: "url",
                message: format!(
                    "{:?} is not an http:// or https:// URL of ClickHouse's HTTP interface",
                    conn.url
                ),
            });
        }
        crate::schema::check_identifier("database", &conn.database)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(3600)))
            .build();
        Ok(Client {
            conn,
            agent: config.into(),
        })
    }

    /// The database name.
    pub fn database(&self) -> &str {
        &self.conn.database
    }

    /// Runs a statement with no result rows (DDL), in the server's default database.
    ///
    /// # Errors
    /// [`Error::Server`] with ClickHouse's message, [`Error::Http`] when the server cannot be reached.
    pub fn execute(&self, query: &Query) -> Result<()> {
        self.send(query, None, false).map(drop)
    }

    /// Runs a query in the client's database and returns its output (in the format its SQL names).
    ///
    /// # Errors
    /// As [`Client::execute`].
    pub fn query(&self, query: &Query) -> Result<String> {
        self.send(query, None, true)
    }

    /// Runs a query in the client's database and hands its output to `row` line by line, without holding the whole
    /// answer: for answers of one row per event, which may pass [`Client::query`]'s size limit. A line longer than
    /// 64 MiB is an error.
    ///
    /// # Errors
    /// As [`Client::execute`], or the first error `row` returns.
    pub fn query_lines(
        &self,
        query: &Query,
        mut row: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        use std::io::{BufRead as _, BufReader, Read as _};
        const MAX_LINE: u64 = 64 << 20;
        let resp = self.request(query, None, true)?;
        let status = resp.status().as_u16();
        let http = |e: std::io::Error| Error::Http {
            url: self.conn.url.clone(),
            message: format!("reading the answer: {e}"),
        };
        if status != 200 {
            return Err(Error::Server {
                status,
                message: read_text(resp, &self.conn.url)?.trim().to_string(),
            });
        }
        let mut reader = BufReader::with_capacity(1 << 20, resp.into_body().into_reader());
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .by_ref()
                .take(MAX_LINE + 1)
                .read_until(b'\n', &mut line)
                .map_err(http)?;
            if n == 0 {
                return Ok(());
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            } else if n as u64 > MAX_LINE {
                return Err(Error::Answer(format!(
                    "a row of the answer is longer than {MAX_LINE} bytes"
                )));
            }
            let text = std::str::from_utf8(&line)
                .map_err(|_| Error::Answer("a row of the answer is not UTF-8".into()))?;
            row(text)?;
        }
    }

    /// Inserts rows (`body`, in the format the statement names) into the client's database.
    ///
    /// # Errors
    /// As [`Client::execute`].
    pub fn insert(&self, query: &Query, body: &[u8]) -> Result<()> {
        self.send(query, Some(body), true).map(drop)
    }

    fn send(&self, query: &Query, body: Option<&[u8]>, in_database: bool) -> Result<String> {
        let resp = self.request(query, body, in_database)?;
        let status = resp.status().as_u16();
        let text = read_text(resp, &self.conn.url)?;
        if status != 200 {
            return Err(Error::Server {
                status,
                message: text.trim().to_string(),
            });
        }
        Ok(text)
    }

    fn request(
        &self,
        query: &Query,
        body: Option<&[u8]>,
        in_database: bool,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let url = format!("{}/", self.conn.url.trim_end_matches('/'));
        let mut req = self.agent.post(&url);
        if body.is_some() {
            req = req.query("query", &query.sql);
        }
        if in_database {
            req = req.query("database", &self.conn.database);
        }
        // The answers must not depend on the server's profile: outer joins fill defaults, and a limit reached
        // fails the query instead of cutting its answer short (which would still be a 200); the whole answer is
        // computed before it is sent, so a failure is an error status.
        for (setting, value) in SETTINGS {
            req = req.query(*setting, *value);
        }
        for (name, value) in &query.params {
            req = req.query(format!("param_{name}"), value);
        }
        if let Some(user) = &self.conn.user {
            req = req.header("X-ClickHouse-User", user);
        }
        if let Some(password) = &self.conn.password {
            req = req.header("X-ClickHouse-Key", password);
        }
        let sent = match body {
            Some(b) => req.send(b),
            None => req.send(query.sql.as_bytes()),
        };
        sent.map_err(|e| Error::Http {
            url: self.conn.url.clone(),
            message: e.to_string(),
        })
    }
}

/// A whole answer as text, up to [`MAX_RESULT_BYTES`].
fn read_text(resp: ureq::http::Response<ureq::Body>, url: &str) -> Result<String> {
    resp.into_body()
        .with_config()
        .limit(MAX_RESULT_BYTES)
        .read_to_string()
        .map_err(|e| Error::Http {
            url: url.to_string(),
            message: format!("reading the answer: {e}"),
        })
}
