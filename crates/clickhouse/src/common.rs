//! SQL every compiled report shares: each event up to `as_of` with its person at `as_of` (`ev`), the personless
//! persons a report leaves out (`excluded`), the range a scan reads, entity names, filters and local periods.

use report::EventTable;
use report::params::{Common, Entity, Period, Personless};
use report::table::{DataProvenance, Scan};

use crate::filter::{Compiled, compile};
use crate::http::Client;
use crate::schema::{EVENTS, IDENTITY, PERSON_PROPERTIES};
use crate::sql::{Binder, Query};
use crate::{Error, Result};

/// The index of `ts`'s local period (a DateTime64 expression) counted from the period starting at `first` (UTC µs):
/// local days by `toRelativeDayNum` in `tz`, weeks as seven of them, months by `toRelativeMonthNum`, and hours as
/// 3600-second steps, as in the embedded engine's grid.
pub(crate) fn period(period: Period, first: i64, b: &mut Binder, tz: &str, ts: &str) -> String {
    let first = b.int(first);
    let first_t = format!("fromUnixTimestamp64Micro({first}, 'UTC')");
    match period {
        Period::Hour => format!("intDiv(toUnixTimestamp64Micro({ts}) - {first}, 3600000000)"),
        Period::Day => {
            format!("(toRelativeDayNum({ts}, {tz}) - toRelativeDayNum({first_t}, {tz}))")
        }
        Period::Week => {
            format!("intDiv(toRelativeDayNum({ts}, {tz}) - toRelativeDayNum({first_t}, {tz}), 7)")
        }
        Period::Month => {
            format!("(toRelativeMonthNum({ts}, {tz}) - toRelativeMonthNum({first_t}, {tz}))")
        }
    }
}

/// The head of a report's queries: `ev` (every event of the project up to `as_of` with its person at `as_of`,
/// whether its id is in a merge, when the scan loads them the person's properties at `as_of`, `person_properties`,
/// and when it reads payments `paid` and the `pay_` columns) and `excluded` (the personless persons, when the scan
/// leaves them out: every event up to `as_of` personless and no id in a merge, retention.md §5.4).
pub(crate) fn head(scan: &Scan, b: &mut Binder, project: &str) -> String {
    let project = b.string(project);
    let as_of = b.int(scan.as_of);
    // A payment as the embedded engine reads one: an amount and a currency, the kind `one_time` when absent.
    let payments = if scan.payments {
        ",
        e.payment_amount_minor IS NOT NULL AND e.payment_currency IS NOT NULL AS paid,
        ifNull(e.payment_amount_minor, 0) AS pay_amount, ifNull(e.payment_currency, '') AS pay_currency,
        ifNull(e.payment_kind, 'one_time') AS pay_kind, ifNull(e.payment_tax_minor, 0) AS pay_tax,
        ifNull(e.payment_fee_minor, 0) AS pay_fee"
    } else {
        ""
    };
    let events = format!(
        "SELECT if(i.person = '', e.distinct_id, i.person) AS person, i.in_merge AS in_merge, e.timestamp AS ts,
        toString(e.uuid) AS uid, e.event AS event, e.properties AS properties, e.personless AS personless{payments}
    FROM {EVENTS} AS e LEFT JOIN ids AS i ON e.distinct_id = i.distinct_id
    WHERE e.project = {project} AND e.timestamp <= fromUnixTimestamp64Micro({as_of}, 'UTC')"
    );
    // A person's properties at as_of: the latest change of its timeline (none: no properties).
    let events = if scan.person_properties {
        format!(
            "SELECT e0.*, if(pp.props = '', '{{}}', pp.props) AS person_properties
    FROM ({events}) AS e0
    LEFT JOIN (
        SELECT person AS who, argMax(properties, valid_from) AS props FROM {PERSON_PROPERTIES}
        WHERE project = {project} AND valid_from <= {as_of}
        GROUP BY person
    ) AS pp ON e0.person = pp.who"
        )
    } else {
        events
    };
    // A person with several ids has them all in a merge, so a personless person is one id, in no merge, whose every
    // event is personless: only ids with a personless event are grouped.
    let excluded = match scan.personless {
        Personless::Exclude => format!(
            "SELECT distinct_id AS person FROM {EVENTS}
    WHERE project = {project} AND timestamp <= fromUnixTimestamp64Micro({as_of}, 'UTC')
        AND distinct_id IN (
            SELECT distinct_id FROM {EVENTS}
            WHERE project = {project} AND personless AND timestamp <= fromUnixTimestamp64Micro({as_of}, 'UTC')
        )
        AND distinct_id NOT IN (SELECT distinct_id FROM ids WHERE in_merge)
    GROUP BY distinct_id HAVING min(personless)"
        ),
        Personless::Include => "SELECT '' AS person WHERE 0".to_string(),
    };
    format!(
        "WITH
ids AS (
    SELECT distinct_id, argMax(person, valid_from) AS person, argMax(in_merge, valid_from) AS in_merge
    FROM {IDENTITY}
    WHERE project = {project} AND valid_from <= {as_of}
    GROUP BY distinct_id
),
ev AS (
    {events}
),
excluded AS ({excluded})"
    )
}

/// The instants a scan reads: `ts >= from AND ts < to`.
pub(crate) fn range(scan: &Scan, b: &mut Binder) -> String {
    let to = b.int(scan.to);
    let mut out = format!("ts < fromUnixTimestamp64Micro({to}, 'UTC')");
    if let Some(from) = scan.from {
        let from = b.int(from);
        out.push_str(&format!(
            " AND ts >= fromUnixTimestamp64Micro({from}, 'UTC')"
        ));
    }
    out
}

/// Whether an event's name matches an entity: one of its names, or any activity event of the project.
pub(crate) fn names(b: &mut Binder, entity: &Entity, common: &Common, project: &str) -> String {
    match entity.event.names() {
        Some(list) => format!("event IN {}", b.strings(&list)),
        None => {
            let skip = common.non_activity_events(project);
            format!("event NOT IN {}", b.strings(&skip))
        }
    }
}

/// Filters AND-ed (`1` for none).
pub(crate) fn all(filters: &[Compiled]) -> String {
    if filters.is_empty() {
        return "1".into();
    }
    filters
        .iter()
        .map(|f| format!("({})", f.sql))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The events of the range read (personless persons left out), the personless persons met in the UTC days read (as
/// the embedded engine meets every person of the days it reads), and their events in the range.
pub(crate) fn scope(scan: &Scan, project: &str) -> Query {
    const DAY: i64 = 86_400_000_000;
    let mut b = Binder::default();
    let head_sql = head(scan, &mut b, project);
    let in_range = range(scan, &mut b);
    let days_end = b.int((scan.to - 1).div_euclid(DAY) * DAY + DAY);
    let mut in_days = format!("ts < fromUnixTimestamp64Micro({days_end}, 'UTC')");
    if let Some(from) = scan.from {
        let days_start = b.int(from.div_euclid(DAY) * DAY);
        in_days.push_str(&format!(
            " AND ts >= fromUnixTimestamp64Micro({days_start}, 'UTC')"
        ));
    }
    b.finish(format!(
        "{head_sql}
SELECT
    countIf(({in_range}) AND person NOT IN excluded) AS in_range,
    uniqExactIf(person, person IN excluded) AS personless_persons,
    countIf(({in_range}) AND person IN excluded) AS personless_events
FROM ev
WHERE {in_days}
FORMAT TabSeparated"
    ))
}

/// Reads the [`scope`] answer into the provenance.
///
/// # Errors
/// [`Error::Answer`] for an answer that is not three numbers.
pub(crate) fn read_scope(text: &str, data: &mut DataProvenance) -> Result<()> {
    let bad = || Error::Answer(format!("the scope answer {text:?} is not three numbers"));
    let f: Vec<u64> = text
        .trim_end()
        .split('\t')
        .map(|s| s.parse::<u64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad())?;
    let [in_range, persons, events] = f[..] else {
        return Err(bad());
    };
    data.in_range = Some(in_range);
    data.personless_persons = persons;
    data.personless_events = events;
    Ok(())
}

/// The IANA name of a report's time zone.
///
/// # Errors
/// [`Error::Unsupported`] naming `timezone` for a zone without one (a fixed offset).
pub(crate) fn tz_name(tz: &jiff::tz::TimeZone) -> Result<&str> {
    tz.iana_name().ok_or_else(|| {
        crate::unsupported(
            "timezone",
            "time zones without an IANA name (fixed offsets)",
        )
    })
}

/// The condition on `ev` of an entity's counting events: inside the scan's range, of a person the report includes,
/// with one of the entity's names, its filters and the project's global filters.
///
/// # Errors
/// [`Error::Report`] for an invalid filter.
pub(crate) fn counting(
    scan: &Scan,
    b: &mut Binder,
    entity: &Entity,
    common: &Common,
    project: &str,
) -> Result<String> {
    let in_range = range(scan, b);
    let names = names(b, entity, common, project);
    let global = compile(b, &common.global_filters(project))?;
    let own = compile(b, &entity.properties)?;
    Ok(format!(
        "{in_range} AND person NOT IN excluded AND ({names}) AND ({}) AND ({})",
        all(&global),
        all(&own)
    ))
}

/// The start of a one-entity report's query: a binder, the head over `scan`, and the entity's [`counting`]
/// condition.
///
/// # Errors
/// [`Error::Report`] for an invalid filter.
pub(crate) fn entity_query(
    scan: &Scan,
    entity: &Entity,
    common: &Common,
    project: &str,
) -> Result<(Binder, String, String)> {
    let mut b = Binder::default();
    let head = head(scan, &mut b, project);
    let condition = counting(scan, &mut b, entity, common, project)?;
    Ok((b, head, condition))
}

/// The earliest instant (UTC µs) meeting `condition` on `ev`, `\N` when none does.
pub(crate) fn earliest(head: &str, condition: &str) -> String {
    format!(
        "{head}
SELECT if(count() = 0, NULL, min(toUnixTimestamp64Micro(ts))) FROM ev WHERE {condition}
FORMAT TabSeparated"
    )
}

/// Reads an [`earliest`] answer.
///
/// # Errors
/// [`Error::Answer`] for an answer that is neither an instant nor `\N`.
pub(crate) fn read_earliest(text: &str) -> Result<Option<i64>> {
    let text = text.trim();
    if text == "\\N" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| Error::Answer(format!("the earliest event {text:?} is not an instant")))
}

/// A project's table as a compiled report needs it: no events, only what the provenance and the notes read (the
/// fingerprint's inputs, the events read and left out, the event names present).
///
/// # Errors
/// [`Error::Server`], [`Error::Http`] or [`Error::Answer`] from ClickHouse.
pub(crate) fn shell(
    client: &Client,
    project: &str,
    scan: &Scan,
    names: &[String],
) -> Result<EventTable> {
    let (mut data, present) = crate::provenance::data(client, project, scan, names)?;
    read_scope(&client.query(&scope(scan, project))?, &mut data)?;
    Ok(crate::retention::shell(project, data, present))
}
