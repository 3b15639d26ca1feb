//! The language of a report's words: its definition sentence and its notes. English is the default; Simplified
//! Chinese (`zh-CN`) is the second. The numbers never depend on it.
//!
//! The language is a report parameter (`lang`), echoed in `parameters`, so `verify` re-derives the same sentence. This module holds the Chinese phrases the kinds share; each kind writes its own
//! sentence in both languages beside the English one.

use serde::{Deserialize, Serialize};

use crate::params::{Common, Entity, Filter, Operator, Period, PropertyKind, WeekStart};

/// A report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    /// English.
    #[default]
    #[serde(rename = "en", alias = "en-US", alias = "en-GB")]
    En,
    /// Simplified Chinese.
    #[serde(
        rename = "zh-CN",
        alias = "zh",
        alias = "zh-cn",
        alias = "zh-Hans",
        alias = "zh-SG"
    )]
    ZhCn,
}

impl Lang {
    /// The language of an HTTP `Accept-Language` header: the first supported tag by quality (English when none).
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',').take(32) {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = if tag == "zh"
                || tag.starts_with("zh-cn")
                || tag.starts_with("zh-hans")
                || tag == "zh-sg"
            {
                Lang::ZhCn
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }
}

/// `小时`, `天`, `周`, `月`.
pub(crate) fn period(p: Period) -> &'static str {
    match p {
        Period::Hour => "小时",
        Period::Day => "天",
        Period::Week => "周",
        Period::Month => "月",
    }
}

/// The unit to count periods with: `3 天`, `3 周`, `3 个月`, `3 小时`.
pub(crate) fn unit(p: Period) -> &'static str {
    match p {
        Period::Hour => "小时",
        Period::Day => "天",
        Period::Week => "周",
        Period::Month => "个月",
    }
}

/// `（周一为一周之始，Asia/Shanghai）` for weeks, else `（UTC）`.
pub(crate) fn zone(p: Period, week_start: WeekStart, tz: &str) -> String {
    match (p, week_start) {
        (Period::Week, WeekStart::Monday) => format!("（周一为一周之始，{tz}）"),
        (Period::Week, WeekStart::Sunday) => format!("（周日为一周之始，{tz}）"),
        _ => format!("（{tz}）"),
    }
}

/// What a first occurrence is of: `活跃事件` for any activity event (`首次活跃事件`), else the entity.
pub(crate) fn first_of(e: &Entity) -> String {
    match (e.event.names(), e.properties.is_empty()) {
        (None, true) => "活跃事件".to_string(),
        _ => entity(e),
    }
}

/// `任意活跃事件`, or the names in backticks joined by `或`, with the entity's filters.
pub(crate) fn entity(e: &Entity) -> String {
    let names = match e.event.names() {
        None => "任意活跃事件".to_string(),
        Some(list) => list
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join("或"),
    };
    if e.properties.is_empty() {
        names
    } else {
        format!("{names}（{}）", filters(&e.properties))
    }
}

/// The filters, joined by `且`.
pub(crate) fn filters(list: &[Filter]) -> String {
    list.iter()
        .map(|f| {
            let who = if f.kind == PropertyKind::Person {
                "用户属性 "
            } else {
                ""
            };
            let op = match f.operator {
                Operator::Eq => "等于",
                Operator::Neq => "不等于",
                Operator::Contains => "包含",
                Operator::NotContains => "不包含",
                Operator::Gt => "大于",
                Operator::Gte => "大于等于",
                Operator::Lt => "小于",
                Operator::Lte => "小于等于",
                Operator::IsSet => "已设置",
                Operator::IsNotSet => "未设置",
                Operator::Regex => "匹配正则",
            };
            match (&f.value, f.operator) {
                (_, Operator::IsSet | Operator::IsNotSet) | (None, _) => {
                    format!("{who}{} {op}", f.key)
                }
                (Some(v), _) => format!("{who}{} {op} {v}", f.key),
            }
        })
        .collect::<Vec<_>>()
        .join(" 且 ")
}

/// The global filters: `，仅统计 … 的事件`, `，排除测试账号`; empty without either.
pub(crate) fn global(c: &Common) -> String {
    let mut out = String::new();
    if !c.properties.is_empty() {
        out = format!("，仅统计满足 {} 的事件", filters(&c.properties));
    }
    if c.filter_test_accounts {
        out.push_str("，排除测试账号（各项目的测试账号过滤条件）");
    }
    out
}

/// `，含无身份用户` when personless persons are included.
pub(crate) fn personless(c: &Common) -> &'static str {
    match c.personless {
        crate::params::Personless::Exclude => "",
        crate::params::Personless::Include => "，含无身份用户",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_tag() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::ZhCn
        );
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh;q=0.8"),
            Lang::En
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR, zh-Hans;q=0.5"),
            Lang::ZhCn
        );
        assert_eq!(Lang::from_accept_language("de, fr"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("zh;q=0"), Lang::En);
        assert_eq!(
            Lang::from_accept_language(&"x;q=;".repeat(10_000)),
            Lang::En
        );
    }

    #[test]
    fn the_parameter_reads_the_usual_spellings() {
        for s in ["\"zh-CN\"", "\"zh\"", "\"zh-Hans\""] {
            assert_eq!(serde_json::from_str::<Lang>(s).unwrap(), Lang::ZhCn, "{s}");
        }
        assert_eq!(serde_json::from_str::<Lang>("\"en\"").unwrap(), Lang::En);
        assert!(serde_json::from_str::<Lang>("\"fr\"").is_err());
        assert_eq!(serde_json::to_string(&Lang::ZhCn).unwrap(), "\"zh-CN\"");
    }
}
