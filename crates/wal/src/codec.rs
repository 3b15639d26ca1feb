//! The hand-written binary encoding of one [`Record`]: a kind byte followed by the record's fields.
//!
//! The frame layer (`log.rs`) wraps these bytes with a length, a checksum and an lsn; this module only knows how a
//! record looks as bytes. Integers are little-endian, strings and byte strings are a `u32` length followed by the
//! bytes, options are a `0`/`1` tag, and enums are `u8` tags or, for rejection reasons, their stable code string.
//! The full grammar is in `docs/formats/wal.md`.
//!
//! Decoding never panics: any byte string either decodes to a record or returns a [`DecodeError`] with the offset
//! of the offending field.

use model::{
    Digest, Event, EventBatch, EventText, Merge, MergeSource, Payment, PaymentKind, PersonBatch,
    PersonRecord, Project, ProjectError, Record, RejectReason, Rejection, Timestamp, TypedProps,
    Uuid,
};

/// Record kind byte of [`Record::Events`].
pub const KIND_EVENTS: u8 = 1;
/// Record kind byte of [`Record::Persons`].
pub const KIND_PERSONS: u8 = 2;

/// A record body that does not decode, with the byte offset (from the start of the body) where decoding stopped.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("at body offset {offset}: {reason}")]
pub struct DecodeError {
    /// Offset of the offending field from the start of the record body (the kind byte).
    pub offset: u64,
    /// What is wrong with it.
    pub reason: DecodeReason,
}

/// What made a record body undecodable.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeReason {
    /// The body ends inside a field.
    #[error("body ends {missing} bytes early")]
    UnexpectedEnd {
        /// How many more bytes the field needed.
        missing: u64,
    },
    /// Bytes are left after the last field.
    #[error("{count} trailing bytes after the record")]
    TrailingBytes {
        /// How many.
        count: u64,
    },
    /// A string field is not UTF-8.
    #[error("string is not utf-8")]
    InvalidUtf8,
    /// An enum, option or bool tag has a value outside its table.
    #[error("unknown {field} tag {tag}")]
    UnknownTag {
        /// Which tag.
        field: &'static str,
        /// The value read.
        tag: u8,
    },
    /// A rejection reason code that liucun does not know.
    #[error("unknown rejection reason {0:?}")]
    UnknownReason(String),
    /// The project name fails [`Project::new`].
    #[error("invalid project: {0}")]
    InvalidProject(ProjectError),
}

/// Appends the encoding of `record` (kind byte, then fields) to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    match record {
        Record::Events(batch) => {
            out.push(KIND_EVENTS);
            put_str(out, batch.project().as_str());
            put_len(out, batch.events().len());
            for event in batch.events() {
                put_event(out, event);
            }
            put_rejections(out, batch.rejections());
        }
        Record::Persons(batch) => {
            out.push(KIND_PERSONS);
            put_str(out, batch.project.as_str());
            put_len(out, batch.persons.len());
            for person in &batch.persons {
                put_person(out, person);
            }
            put_rejections(out, &batch.rejections);
        }
    }
}

/// The first format version whose merge sources include the Sensors tags 5 to 7.
const SENSORS_MERGES_SINCE: u16 = 2;

/// Decodes one record body as written by [`encode`] in the current [`FORMAT_VERSION`](crate::FORMAT_VERSION); the
/// whole of `bytes` must be consumed.
///
/// # Errors
/// [`DecodeError`] for a short body, trailing bytes, bad UTF-8, an unknown tag or reason, or an invalid project.
pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
    decode_version(bytes, crate::FORMAT_VERSION)
}

/// Decodes one record body from a file of format `version`, which the caller has checked is one this build reads.
///
/// Versions differ only in their tag tables: version 1 knows merge sources 0 to 4, so a tag 5 to 7 in a version-1
/// file is damage, not a Sensors merge.
///
/// # Errors
/// As [`decode`].
pub fn decode_version(bytes: &[u8], version: u16) -> Result<Record, DecodeError> {
    debug_assert!(
        (crate::OLDEST_FORMAT_VERSION..=crate::FORMAT_VERSION).contains(&version),
        "the header check refuses version {version}"
    );
    let mut r = Reader {
        bytes,
        pos: 0,
        version,
    };
    let record = match r.u8()? {
        KIND_EVENTS => {
            let project = r.project()?;
            let n = r.count(MIN_EVENT_BYTES)?;
            let mut events = Vec::with_capacity(n);
            for _ in 0..n {
                events.push(r.event()?);
            }
            let rejections = r.rejections()?;
            Record::Events(EventBatch::new(project, events, rejections))
        }
        KIND_PERSONS => {
            let project = r.project()?;
            let n = r.count(MIN_PERSON_BYTES)?;
            let mut persons = Vec::with_capacity(n);
            for _ in 0..n {
                persons.push(r.person()?);
            }
            let rejections = r.rejections()?;
            Record::Persons(PersonBatch {
                project,
                persons,
                rejections,
            })
        }
        tag => {
            return Err(r.error_at(
                0,
                DecodeReason::UnknownTag {
                    field: "record kind",
                    tag,
                },
            ));
        }
    };
    if r.pos < bytes.len() {
        let count = (bytes.len() - r.pos) as u64;
        return Err(r.error_at(r.pos, DecodeReason::TrailingBytes { count }));
    }
    Ok(record)
}

// Smallest encodings, used to bound `Vec::with_capacity` by the bytes actually present.
const MIN_EVENT_BYTES: usize = 16 + 4 + 4 + 8 + 4 + 32 + 10 + 1 + 8 + 4 + 4;
const MIN_PERSON_BYTES: usize = 4 + 4 + 1 + 8 + 4;
const MIN_REJECTION_BYTES: usize = 4 + 4 + 4 + 4 + 8;

fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Frames are limited to u32 lengths, so every field length fits; the frame layer rejects larger records.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bool(out: &mut Vec<u8>, v: bool) {
    put_u8(out, u8::from(v));
}

fn put_opt_str(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        None => put_u8(out, 0),
        Some(s) => {
            put_u8(out, 1);
            put_str(out, s);
        }
    }
}

fn put_opt_i64(out: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => put_u8(out, 0),
        Some(x) => {
            put_u8(out, 1);
            put_i64(out, x);
        }
    }
}

fn put_event(out: &mut Vec<u8>, e: &Event) {
    out.extend_from_slice(&e.uuid.0);
    put_str(out, e.distinct_id());
    put_str(out, e.event());
    put_i64(out, e.timestamp.0);
    put_str(out, e.properties());
    out.extend_from_slice(&e.digest.0);
    put_typed(out, &e.typed);
    match &e.merge {
        None => put_u8(out, 0),
        Some(m) => {
            put_u8(out, 1);
            put_str(out, &m.kept);
            put_str(out, &m.merged);
            put_u8(out, merge_source_tag(m.source));
        }
    }
    put_i64(out, e.received_at.0);
    put_str(out, e.source());
    put_str(out, e.meta());
}

fn put_typed(out: &mut Vec<u8>, t: &TypedProps) {
    put_opt_str(out, t.ai_model.as_deref());
    put_opt_str(out, t.ai_provider.as_deref());
    put_opt_i64(out, t.ai_input_tokens);
    put_opt_i64(out, t.ai_output_tokens);
    put_opt_i64(out, t.ai_cache_read_tokens);
    put_opt_i64(out, t.ai_cache_write_tokens);
    put_opt_i64(out, t.ai_cost_nusd);
    put_bool(out, t.ai_usage_invalid);
    match &t.payment {
        None => put_u8(out, 0),
        Some(p) => {
            put_u8(out, 1);
            put_i64(out, p.amount_minor);
            put_str(out, &p.currency);
            put_u8(out, payment_kind_tag(p.kind));
            put_i64(out, p.tax_minor);
            put_i64(out, p.fee_minor);
            put_opt_str(out, p.product.as_deref());
            put_opt_str(out, p.external_id.as_deref());
        }
    }
    put_bool(out, t.personless);
}

fn put_rejections(out: &mut Vec<u8>, rejections: &[Rejection]) {
    put_len(out, rejections.len());
    for r in rejections {
        put_str(out, r.reason.code());
        put_str(out, &r.detail);
        put_bytes(out, &r.raw);
        put_str(out, &r.source);
        put_i64(out, r.received_at.0);
    }
}

fn put_person(out: &mut Vec<u8>, p: &PersonRecord) {
    put_len(out, p.distinct_ids.len());
    for id in &p.distinct_ids {
        put_str(out, id);
    }
    put_str(out, &p.properties);
    put_opt_i64(out, p.created_at.map(|t| t.0));
    put_i64(out, p.updated_at.0);
    put_str(out, &p.source);
}

// Tags are part of the on-disk format: never renumber, only append.
fn payment_kind_tag(kind: PaymentKind) -> u8 {
    match kind {
        PaymentKind::New => 0,
        PaymentKind::Renewal => 1,
        PaymentKind::OneTime => 2,
        PaymentKind::Usage => 3,
        PaymentKind::Refund => 4,
        PaymentKind::Chargeback => 5,
    }
}

fn payment_kind_from_tag(tag: u8) -> Option<PaymentKind> {
    Some(match tag {
        0 => PaymentKind::New,
        1 => PaymentKind::Renewal,
        2 => PaymentKind::OneTime,
        3 => PaymentKind::Usage,
        4 => PaymentKind::Refund,
        5 => PaymentKind::Chargeback,
        _ => return None,
    })
}

fn merge_source_tag(source: MergeSource) -> u8 {
    match source {
        MergeSource::Identify => 0,
        MergeSource::CreateAlias => 1,
        MergeSource::MergeDangerously => 2,
        MergeSource::SegmentIds => 3,
        MergeSource::SegmentAlias => 4,
        MergeSource::SensorsIds => 5,
        MergeSource::SensorsBind => 6,
        MergeSource::SensorsUnbind => 7,
    }
}

fn merge_source_from_tag(tag: u8, version: u16) -> Option<MergeSource> {
    if tag > 4 && version < SENSORS_MERGES_SINCE {
        return None;
    }
    Some(match tag {
        0 => MergeSource::Identify,
        1 => MergeSource::CreateAlias,
        2 => MergeSource::MergeDangerously,
        3 => MergeSource::SegmentIds,
        4 => MergeSource::SegmentAlias,
        5 => MergeSource::SensorsIds,
        6 => MergeSource::SensorsBind,
        7 => MergeSource::SensorsUnbind,
        _ => return None,
    })
}

/// A cursor over a record body; every read checks the remaining length first.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The format version of the file the body comes from, which selects the tag tables.
    version: u16,
}

impl<'a> Reader<'a> {
    fn error_at(&self, pos: usize, reason: DecodeReason) -> DecodeError {
        DecodeError {
            offset: pos as u64,
            reason,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let rest = self.bytes.len() - self.pos;
        if n > rest {
            let missing = (n - rest) as u64;
            return Err(self.error_at(self.pos, DecodeReason::UnexpectedEnd { missing }));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    /// Reads an element count and checks that that many elements of at least `min_bytes` each can still follow,
    /// so that a damaged count cannot trigger a huge allocation.
    fn count(&mut self, min_bytes: usize) -> Result<usize, DecodeError> {
        let at = self.pos;
        let n = self.len()?;
        let rest = self.bytes.len() - self.pos;
        let need = n.saturating_mul(min_bytes);
        if need > rest {
            return Err(self.error_at(
                at,
                DecodeReason::UnexpectedEnd {
                    missing: (need - rest) as u64,
                },
            ));
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.len()?;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let raw = self.bytes()?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(self.error_at(at, DecodeReason::InvalidUtf8)),
        }
    }

    fn tag(&mut self, field: &'static str, max: u8) -> Result<u8, DecodeError> {
        let at = self.pos;
        let tag = self.u8()?;
        if tag > max {
            return Err(self.error_at(at, DecodeReason::UnknownTag { field, tag }));
        }
        Ok(tag)
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        Ok(self.tag(field, 1)? == 1)
    }

    fn is_some(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        Ok(self.tag(field, 1)? == 1)
    }

    fn opt_string(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        if self.is_some(field)? {
            Ok(Some(self.string()?))
        } else {
            Ok(None)
        }
    }

    fn opt_i64(&mut self, field: &'static str) -> Result<Option<i64>, DecodeError> {
        if self.is_some(field)? {
            Ok(Some(self.i64()?))
        } else {
            Ok(None)
        }
    }

    fn timestamp(&mut self) -> Result<Timestamp, DecodeError> {
        Ok(Timestamp(self.i64()?))
    }

    fn project(&mut self) -> Result<Project, DecodeError> {
        let at = self.pos;
        let name = self.string()?;
        Project::new(&name).map_err(|e| self.error_at(at, DecodeReason::InvalidProject(e)))
    }

    fn event(&mut self) -> Result<Event, DecodeError> {
        let uuid = Uuid(self.array()?);
        let distinct_id = self.string()?;
        let event = self.string()?;
        let timestamp = self.timestamp()?;
        let properties = self.string()?;
        let digest = Digest(self.array()?);
        let typed = self.typed()?;
        let merge = if self.is_some("merge option")? {
            let kept = self.string()?;
            let merged = self.string()?;
            let at = self.pos;
            let tag = self.u8()?;
            let source = merge_source_from_tag(tag, self.version).ok_or_else(|| {
                self.error_at(
                    at,
                    DecodeReason::UnknownTag {
                        field: "merge source",
                        tag,
                    },
                )
            })?;
            Some(Merge {
                kept,
                merged,
                source,
            })
        } else {
            None
        };
        let received_at = self.timestamp()?;
        let source = self.string()?;
        let meta = self.string()?;
        Ok(Event {
            uuid,
            timestamp,
            digest,
            typed,
            merge: merge.map(Box::new),
            received_at,
            text: EventText::new(&distinct_id, &event, &properties, &source, &meta),
        })
    }

    fn typed(&mut self) -> Result<TypedProps, DecodeError> {
        let ai_model = self.opt_string("ai_model option")?;
        let ai_provider = self.opt_string("ai_provider option")?;
        let ai_input_tokens = self.opt_i64("ai_input_tokens option")?;
        let ai_output_tokens = self.opt_i64("ai_output_tokens option")?;
        let ai_cache_read_tokens = self.opt_i64("ai_cache_read_tokens option")?;
        let ai_cache_write_tokens = self.opt_i64("ai_cache_write_tokens option")?;
        let ai_cost_nusd = self.opt_i64("ai_cost_nusd option")?;
        let ai_usage_invalid = self.bool("ai_usage_invalid bool")?;
        let payment = if self.is_some("payment option")? {
            let amount_minor = self.i64()?;
            let currency = self.string()?;
            let at = self.pos;
            let tag = self.u8()?;
            let kind = payment_kind_from_tag(tag).ok_or_else(|| {
                self.error_at(
                    at,
                    DecodeReason::UnknownTag {
                        field: "payment kind",
                        tag,
                    },
                )
            })?;
            let tax_minor = self.i64()?;
            let fee_minor = self.i64()?;
            let product = self.opt_string("product option")?;
            let external_id = self.opt_string("external_id option")?;
            Some(Payment {
                amount_minor,
                currency,
                kind,
                tax_minor,
                fee_minor,
                product,
                external_id,
            })
        } else {
            None
        };
        let personless = self.bool("personless bool")?;
        Ok(TypedProps {
            ai_model,
            ai_provider,
            ai_input_tokens,
            ai_output_tokens,
            ai_cache_read_tokens,
            ai_cache_write_tokens,
            ai_cost_nusd,
            ai_usage_invalid,
            payment: payment.map(Box::new),
            personless,
        })
    }

    fn rejections(&mut self) -> Result<Vec<Rejection>, DecodeError> {
        let n = self.count(MIN_REJECTION_BYTES)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let at = self.pos;
            let code = self.string()?;
            let reason = RejectReason::from_code(&code)
                .ok_or_else(|| self.error_at(at, DecodeReason::UnknownReason(code.clone())))?;
            let detail = self.string()?;
            let raw = self.bytes()?.to_vec();
            let source = self.string()?;
            let received_at = self.timestamp()?;
            out.push(Rejection {
                reason,
                detail,
                raw,
                source,
                received_at,
            });
        }
        Ok(out)
    }

    fn person(&mut self) -> Result<PersonRecord, DecodeError> {
        let n = self.count(4)?;
        let mut distinct_ids = Vec::with_capacity(n);
        for _ in 0..n {
            distinct_ids.push(self.string()?);
        }
        let properties = self.string()?;
        let created_at = self.opt_i64("created_at option")?.map(Timestamp);
        let updated_at = self.timestamp()?;
        let source = self.string()?;
        Ok(PersonRecord {
            distinct_ids,
            properties,
            created_at,
            updated_at,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_batch() -> Record {
        let project = Project::new("app").expect("valid name");
        let rejection = Rejection {
            reason: RejectReason::InvalidUuid,
            detail: "uuid".into(),
            raw: b"{}".to_vec(),
            source: "f:1".into(),
            received_at: Timestamp(5),
        };
        Record::Events(EventBatch::new(project, Vec::new(), vec![rejection]))
    }

    #[test]
    fn every_prefix_of_a_body_is_an_error_not_a_panic() {
        let mut body = Vec::new();
        encode(&small_batch(), &mut body);
        assert_eq!(decode(&body), Ok(small_batch()));
        for cut in 0..body.len() {
            let err = decode(&body[..cut]).expect_err("a prefix must not decode");
            assert!(
                err.offset <= cut as u64,
                "offset {} past cut {cut}",
                err.offset
            );
        }
    }

    #[test]
    fn trailing_bytes_and_unknown_kind_are_reported_with_offsets() {
        let mut body = Vec::new();
        encode(&small_batch(), &mut body);
        let len = body.len() as u64;
        body.push(0);
        assert_eq!(
            decode(&body),
            Err(DecodeError {
                offset: len,
                reason: DecodeReason::TrailingBytes { count: 1 }
            })
        );
        assert_eq!(
            decode(&[9]),
            Err(DecodeError {
                offset: 0,
                reason: DecodeReason::UnknownTag {
                    field: "record kind",
                    tag: 9
                }
            })
        );
    }

    #[test]
    fn invalid_project_and_reason_are_rejected() {
        let mut body = vec![KIND_EVENTS];
        put_str(&mut body, "Bad Name");
        let err = decode(&body).expect_err("project must be validated");
        assert_eq!(err.offset, 1);
        assert!(matches!(err.reason, DecodeReason::InvalidProject(_)));

        let mut body = vec![KIND_PERSONS];
        put_str(&mut body, "app");
        put_len(&mut body, 0);
        put_len(&mut body, 1);
        put_str(&mut body, "not_a_reason");
        body.extend_from_slice(&[0; MIN_REJECTION_BYTES]);
        let err = decode(&body).expect_err("reason must be known");
        assert_eq!(
            err.reason,
            DecodeReason::UnknownReason("not_a_reason".into())
        );
    }

    #[test]
    fn huge_counts_do_not_allocate() {
        let mut body = vec![KIND_EVENTS];
        put_str(&mut body, "app");
        body.extend_from_slice(&u32::MAX.to_le_bytes());
        let err = decode(&body).expect_err("count larger than the body");
        assert!(matches!(err.reason, DecodeReason::UnexpectedEnd { .. }));
    }
}
