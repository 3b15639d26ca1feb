//! Costing of AI events against price tables: the worked examples of economics.md §3, matching, versions, tiers,
//! variants, supplied and custom costs, and the loader's refusals.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use liucun_prices::{Costing, Options, PriceTable, Pricing, Stage, parse_instant};

/// The table of the §3 example (prices per 1M tokens) plus entries for matching tests.
const ACME: &str = r#"
schema_version = 1
[[model]]
id = "acme/chat-large"
provider = "acme"
aliases = ["chat-large", "Acme-Chat-Large"]
match = '(?i)(acme/)?chat-large(-\d{8})?'
currency = "USD"
source = "https://acme.example/pricing"
checked = 2025-05-01
  [[model.price]]
  effective_from = 2025-01-01
  uncached_input = "3.00"
  cache_read = "0.30"
  cache_write = "3.75"
  output = "15.00"
    [[model.price.tier]]
    above_input_tokens = 200000
    uncached_input = "6.00"
    output = "22.50"
  [[model.price]]
  effective_from = 2025-04-15
  uncached_input = "2.50"
  cache_read = "0.25"
  cache_write = "3.125"
  output = "12.50"
"#;

/// Costs `props` at `at` (a date) with `tables` as overrides, and renders the record on one line.
#[track_caller]
fn assert_cost(tables: &[&str], props: Value, at: &str, options: Options, want: &str) {
    let tables: Vec<PriceTable> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| PriceTable::parse(&format!("t{i}.toml"), t).expect("valid test table"))
        .collect();
    let pricing = Pricing::new(tables.iter().collect());
    let costing = pricing.cost(
        object(&props),
        parse_instant(at).expect("valid date"),
        &options,
    );
    assert_eq!(render(&costing), want);
}

fn object(v: &Value) -> &Map<String, Value> {
    v.as_object().expect("an object")
}

fn render(c: &Costing) -> String {
    let mut out = format!("{} {} {}", c.source.as_str(), c.nano, c.currency);
    if let Some(reason) = c.unpriced_reason {
        out += &format!(" reason={reason}");
    }
    if let (Some(table), Some(id)) = (&c.table, &c.model_id) {
        out += &format!(" {table}:{id}");
    }
    if let Some(v) = &c.version {
        out += &format!("@{v}");
    }
    if let Some(v) = &c.variant {
        out += &format!(" variant={v}");
    }
    if let Some(t) = c.tier {
        out += &format!(" tier={t}");
    }
    for b in &c.buckets {
        let tier = b.tier.map(|t| format!(">{t}")).unwrap_or_default();
        out += &format!(
            " | {} {}x{}{tier}={}",
            b.bucket.as_str(),
            b.units,
            b.price_per_million,
            b.nano
        );
    }
    if c.partially_priced {
        out += " | partial";
    }
    for (b, n) in &c.unpriced_units {
        out += &format!(" | unpriced {} {n}", b.as_str());
    }
    for f in &c.flags {
        out += &format!(" | {f}");
    }
    out
}

const NONE: Options = Options {
    recompute_posthog_costs: false,
    cache_price_defaults_posthog: false,
};

#[test]
fn economics_3_worked_example_exclusive_and_inclusive() {
    let want = "table 32100000 USD t0.toml:acme/chat-large@2025-01-01 | uncached_input 1200x3=3600000 \
                | cache_read 30000x0.3=9000000 | cache_write 2000x3.75=7500000 | output 800x15=12000000";
    let exclusive = json!({"$ai_model": "chat-large", "$ai_input_tokens": 1200, "$ai_cache_read_input_tokens": 30000,
        "$ai_cache_creation_input_tokens": 2000, "$ai_output_tokens": 800, "$ai_cache_reporting_exclusive": true});
    assert_cost(&[ACME], exclusive, "2025-03-01", NONE, want);
    let inclusive = json!({"$ai_model": "chat-large", "$ai_input_tokens": 33200, "$ai_cache_read_input_tokens": 30000,
        "$ai_cache_creation_input_tokens": 2000, "$ai_output_tokens": 800});
    assert_cost(&[ACME], inclusive, "2025-03-01", NONE, want);
}

#[test]
fn price_versions_follow_the_event_time() {
    let props = || json!({"$ai_model": "acme/chat-large", "$ai_input_tokens": 1000, "$ai_output_tokens": 100});
    assert_cost(
        &[ACME],
        props(),
        "2024-12-31",
        NONE,
        "unpriced 0 USD reason=no_price_version t0.toml:acme/chat-large | unpriced uncached_input 1000 \
         | unpriced output 100",
    );
    assert_cost(
        &[ACME],
        props(),
        "2025-04-14",
        NONE,
        "table 4500000 USD t0.toml:acme/chat-large@2025-01-01 | uncached_input 1000x3=3000000 \
         | output 100x15=1500000",
    );
    // effective_from is 00:00 UTC of its day, inclusive.
    assert_cost(
        &[ACME],
        props(),
        "2025-04-15",
        NONE,
        "table 3750000 USD t0.toml:acme/chat-large@2025-04-15 | uncached_input 1000x2.5=2500000 \
         | output 100x12.5=1250000",
    );
}

#[test]
fn rfc3339_effective_from() {
    let table = r#"schema_version = 1
[[model]]
id = "x/m"
provider = "x"
currency = "EUR"
source = "https://x.example"
checked = "2025-01-01"
[[model.price]]
effective_from = "2025-01-01"
output = "1"
[[model.price]]
effective_from = 2025-01-01T12:00:00+02:00
output = "2"
"#;
    let t = PriceTable::parse("x.toml", table).expect("valid");
    let pricing = Pricing::new(vec![&t]);
    let at = |s| {
        pricing
            .lookup("x/m", None, parse_instant(s).unwrap())
            .version
    };
    assert_eq!(at("2025-01-01T09:59:59Z").as_deref(), Some("2025-01-01"));
    assert_eq!(
        at("2025-01-01T10:00:00Z").as_deref(),
        Some("2025-01-01T12:00:00+02:00")
    );
    let c = pricing.cost(
        object(&json!({"$ai_model": "x/m", "$ai_output_tokens": 10})),
        1 << 60,
        &NONE,
    );
    assert_eq!(
        render(&c),
        "table 20000 EUR x.toml:x/m@2025-01-01T12:00:00+02:00 | output 10x2=20000"
    );
}

#[test]
fn tiers_are_cliffs_strictly_above_the_threshold() {
    let at = |input: u64, cache_read: u64| {
        json!({"$ai_model": "chat-large", "$ai_input_tokens": input, "$ai_cache_read_input_tokens": cache_read,
            "$ai_output_tokens": 1000})
    };
    assert_cost(
        &[ACME],
        at(200_000, 100_000),
        "2025-02-01",
        NONE,
        "table 345000000 USD t0.toml:acme/chat-large@2025-01-01 | uncached_input 100000x3=300000000 \
         | cache_read 100000x0.3=30000000 | output 1000x15=15000000",
    );
    // One token more: every unit of the listed buckets moves to the tier price; cache_read is not listed.
    assert_cost(
        &[ACME],
        at(200_001, 100_000),
        "2025-02-01",
        NONE,
        "table 652506000 USD t0.toml:acme/chat-large@2025-01-01 tier=200000 \
         | uncached_input 100001x6>200000=600006000 | cache_read 100000x0.3=30000000 \
         | output 1000x22.5>200000=22500000",
    );
}

const TIERED: &str = r#"schema_version = 1
[[model]]
id = "t/m"
provider = "t"
currency = "USD"
source = "https://t.example"
checked = 2025-01-01
[[model.price]]
effective_from = 2025-01-01
uncached_input = "1"
output = "10"
  [[model.price.tier]]
  above_input_tokens = 1000
  uncached_input = "2"
  output = "20"
  [[model.price.tier]]
  above_input_tokens = 5000
  uncached_input = "3"
  [[model.price.variant]]
  service_tier = ["flex"]
  uncached_input = "0.5"
  output = "5"
  [[model.price.variant]]
  service_tier = ["priority", "scale"]
  uncached_input = "4"
    [[model.price.variant.tier]]
    above_input_tokens = 100
    output = "80"
"#;

#[test]
fn several_tiers_apply_per_bucket() {
    let props = |input: u64, tier: Option<&str>| {
        let mut v = json!({"$ai_model": "t/m", "$ai_input_tokens": input, "$ai_output_tokens": 10});
        if let Some(tier) = tier {
            v["$ai_model_parameters"] = json!({"service_tier": tier, "temperature": 0.2});
        }
        v
    };
    assert_cost(
        &[TIERED],
        props(1000, None),
        "2025-02-01",
        NONE,
        "table 1100000 USD t0.toml:t/m@2025-01-01 | uncached_input 1000x1=1000000 | output 10x10=100000",
    );
    assert_cost(
        &[TIERED],
        props(5000, None),
        "2025-02-01",
        NONE,
        "table 10200000 USD t0.toml:t/m@2025-01-01 tier=1000 | uncached_input 5000x2>1000=10000000 \
         | output 10x20>1000=200000",
    );
    // Above 5000 the input takes the highest threshold that lists it; output keeps the 1000 tier.
    assert_cost(
        &[TIERED],
        props(5001, None),
        "2025-02-01",
        NONE,
        "table 15203000 USD t0.toml:t/m@2025-01-01 tier=5000 | uncached_input 5001x3>5000=15003000 \
         | output 10x20>1000=200000",
    );
}

#[test]
fn variants_select_by_service_tier() {
    let props = |input: u64, tier: Value| {
        json!({"$ai_model": "t/m", "$ai_input_tokens": input, "$ai_output_tokens": 10,
            "$ai_model_parameters": {"service_tier": tier}})
    };
    // A variant without tiers: its prices, with the version's tiers over them.
    assert_cost(
        &[TIERED],
        props(500, json!("flex")),
        "2025-02-01",
        NONE,
        "table 300000 USD t0.toml:t/m@2025-01-01 variant=flex | uncached_input 500x0.5=250000 \
         | output 10x5=50000",
    );
    assert_cost(
        &[TIERED],
        props(2000, json!("FLEX")),
        "2025-02-01",
        NONE,
        "table 4200000 USD t0.toml:t/m@2025-01-01 variant=flex tier=1000 | uncached_input 2000x2>1000=4000000 \
         | output 10x20>1000=200000",
    );
    // A variant with tiers of its own replaces the version's tiers.
    assert_cost(
        &[TIERED],
        props(6000, json!("scale")),
        "2025-02-01",
        NONE,
        "table 24800000 USD t0.toml:t/m@2025-01-01 variant=scale tier=100 | uncached_input 6000x4=24000000 \
         | output 10x80>100=800000",
    );
    // An unknown tier, or none, uses the base prices.
    assert_cost(
        &[TIERED],
        props(500, json!("default")),
        "2025-02-01",
        NONE,
        "table 600000 USD t0.toml:t/m@2025-01-01 | uncached_input 500x1=500000 | output 10x10=100000",
    );
    // Parameters sent as a JSON string.
    let v = json!({"$ai_model": "t/m", "$ai_input_tokens": 500, "$ai_model_parameters": "{\"service_tier\":\"flex\"}"});
    assert_cost(
        &[TIERED],
        v,
        "2025-02-01",
        NONE,
        "table 250000 USD t0.toml:t/m@2025-01-01 variant=flex | uncached_input 500x0.5=250000",
    );
}

/// Entries that exercise every matching stage and tie order.
fn matching_table() -> String {
    table(&[
        model("openai/gpt-x", r#"aliases = ["GPT-X"]"#, r#"output = "1""#),
        model("azure/gpt-x", "", r#"output = "2""#),
        model(
            "b/family",
            "match = 'fam-\\d+'\npriority = 1",
            r#"output = "3""#,
        ),
        model(
            "a/family",
            "match = 'fam-\\d+'\npriority = 1",
            r#"output = "4""#,
        ),
        model(
            "0/family",
            r"match = '(?i)FAM-\d+|fam-x'",
            r#"output = "5""#,
        ),
    ])
}

/// A price file holding `models`.
fn table(models: &[String]) -> String {
    format!("schema_version = 1\n{}", models.concat())
}

/// A USD model entry with `lines` of model fields and one version from 2025-01-01 with `prices`.
fn model(id: &str, lines: &str, prices: &str) -> String {
    let provider = id.split('/').next().expect("an id with a provider");
    format!(
        "[[model]]\nid = \"{id}\"\nprovider = \"{provider}\"\ncurrency = \"USD\"\n\
         source = \"https://{provider}.example\"\nchecked = 2025-01-01\n{lines}\n\
         [[model.price]]\neffective_from = 2025-01-01\n{prices}\n"
    )
}

/// The id and stage a model string matches in the matching table, or the unpriced reason.
#[track_caller]
fn assert_match(model: &str, provider: Option<&str>, want: &str) {
    let table = PriceTable::parse("m.toml", &matching_table()).expect("valid");
    let lookup =
        Pricing::new(vec![&table]).lookup(model, provider, parse_instant("2025-06-01").unwrap());
    let got = match lookup.candidates.first() {
        Some(c) => {
            let all: Vec<&str> = lookup.candidates.iter().map(|c| c.id.as_str()).collect();
            format!(
                "{} {} via {:?} [{}]",
                c.id,
                c.stage.as_str(),
                c.matched,
                all.join(", ")
            )
        }
        None => lookup.unpriced_reason.unwrap_or("?").to_string(),
    };
    assert_eq!(got, want);
}

#[test]
fn matching_stages() {
    // Stage 1: an id or alias, case-insensitively.
    assert_match(
        "openai/gpt-x",
        None,
        r#"openai/gpt-x id_or_alias via "openai/gpt-x" [openai/gpt-x]"#,
    );
    assert_match(
        "gpt-x",
        None,
        r#"openai/gpt-x id_or_alias via "GPT-X" [openai/gpt-x]"#,
    );
    assert_match(
        "Gpt-X",
        Some("azure"),
        r#"openai/gpt-x id_or_alias via "GPT-X" [openai/gpt-x]"#,
    );
    assert_match(
        "OpenAI/GPT-X",
        None,
        r#"openai/gpt-x id_or_alias via "openai/gpt-x" [openai/gpt-x]"#,
    );
    // Stage 2: the part after the last '/', and provider/model.
    assert_match(
        "router/vendor/gpt-x",
        None,
        r#"openai/gpt-x suffix_after_slash via "GPT-X" [openai/gpt-x]"#,
    );
    assert_match("gpt-x-2", Some("azure"), "unknown_model");
    // Both stage-2 forms match: the entry whose provider equals the event's provider ranks first.
    assert_match(
        "gpt-x",
        Some("Azure"),
        r#"openai/gpt-x id_or_alias via "GPT-X" [openai/gpt-x]"#,
    );
    assert_match(
        "deploy/gpt-x",
        Some("azure"),
        r#"openai/gpt-x suffix_after_slash via "GPT-X" [openai/gpt-x]"#,
    );
    // Stage 3: regexes match the whole string; ties go to provider, then priority (0/family has 0), then the
    // smaller id.
    assert_match(
        "fam-12",
        None,
        r#"a/family regex via "fam-\\d+" [a/family, b/family, 0/family]"#,
    );
    assert_match(
        "fam-12",
        Some("0"),
        r#"0/family regex via "(?i)FAM-\\d+|fam-x" [0/family, a/family, b/family]"#,
    );
    assert_match(
        "fam-12",
        Some("b"),
        r#"b/family regex via "fam-\\d+" [b/family, a/family, 0/family]"#,
    );
    assert_match(
        "FAM-12",
        None,
        r#"0/family regex via "(?i)FAM-\\d+|fam-x" [0/family]"#,
    );
    // Whole match: neither a prefix nor a suffix is enough, also across an alternation.
    assert_match("fam-12-turbo", None, "unknown_model");
    assert_match("my-fam-12", None, "unknown_model");
    assert_match("fam-xy", None, "unknown_model");
    assert_match(
        "fam-x",
        None,
        r#"0/family regex via "(?i)FAM-\\d+|fam-x" [0/family]"#,
    );
    assert_match("  ", None, "no_model");
}

#[test]
fn provider_prefix_stage_ranks_the_event_provider_first() {
    let table = table(&[
        model("other/foo", r#"aliases = ["foo"]"#, r#"output = "1""#),
        model("acme/vendor/foo", "", r#"output = "2""#),
    ]);
    let t = PriceTable::parse("p.toml", &table).unwrap();
    let pricing = Pricing::new(vec![&t]);
    let at = parse_instant("2025-02-01").unwrap();
    let l = pricing.lookup("vendor/foo", Some("ACME"), at);
    let got: Vec<(&str, Stage)> = l
        .candidates
        .iter()
        .map(|c| (c.id.as_str(), c.stage))
        .collect();
    assert_eq!(
        got,
        [
            ("acme/vendor/foo", Stage::ProviderPrefixed),
            ("other/foo", Stage::Suffix)
        ]
    );
    let l = pricing.lookup("vendor/foo", None, at);
    let got: Vec<(&str, Stage)> = l
        .candidates
        .iter()
        .map(|c| (c.id.as_str(), c.stage))
        .collect();
    assert_eq!(got, [("other/foo", Stage::Suffix)]);
}

#[test]
fn overrides_beat_the_builtin_and_the_first_table_with_a_match_decides() {
    let cheap = r#"schema_version = 1
[[model]]
id = "mine/gpt-4o"
provider = "openai"
match = 'gpt-4o.*'
currency = "CNY"
source = "https://mine.example"
checked = 2025-01-01
[[model.price]]
effective_from = 2030-01-01
output = "1"
"#;
    let props = || json!({"$ai_model": "gpt-4o", "$ai_output_tokens": 1000});
    // The builtin matches gpt-4o by alias (stage 1), but the override's regex match still decides, and its lack
    // of a version at the event time does not fall through to the builtin.
    assert_cost(
        &[cheap],
        props(),
        "2025-06-01",
        NONE,
        "unpriced 0 CNY reason=no_price_version t0.toml:mine/gpt-4o | unpriced output 1000",
    );
    assert_cost(
        &[cheap],
        props(),
        "2030-06-01",
        NONE,
        "table 1000000 CNY t0.toml:mine/gpt-4o@2030-01-01 | output 1000x1=1000000",
    );
    assert_cost(
        &[],
        props(),
        "2027-01-01",
        NONE,
        "table 10000000 USD default.toml:openai/gpt-4o@2026-12-05 | output 1000x10=10000000",
    );
    // Before the current prices' import date, the built-in history prices the event.
    assert_cost(
        &[],
        props(),
        "2025-06-01",
        NONE,
        "table 10000000 USD history.toml:openai/gpt-4o@1970-01-01 | output 1000x10=10000000",
    );
    // A model the history does not hold stays unpriced before the current prices' date.
    assert_cost(
        &[],
        json!({"$ai_model": "qwen-max", "$ai_output_tokens": 1000}),
        "2025-06-01",
        NONE,
        "unpriced 0 USD reason=no_price_version default.toml:dashscope/qwen-max | unpriced output 1000",
    );
    assert_cost(
        &[ACME, cheap],
        props(),
        "2030-06-01",
        NONE,
        "table 1000000 CNY t1.toml:mine/gpt-4o@2030-01-01 | output 1000x1=1000000",
    );
}

#[test]
fn unpriced_reasons() {
    assert_cost(
        &[ACME],
        json!({"$ai_input_tokens": 10}),
        "2025-06-01",
        NONE,
        "unpriced 0 USD reason=no_model | unpriced uncached_input 10",
    );
    assert_cost(
        &[ACME],
        json!({"$ai_model": "no-such-model", "$ai_input_tokens": 10}),
        "2025-06-01",
        NONE,
        "unpriced 0 USD reason=unknown_model | unpriced uncached_input 10",
    );
    assert_cost(
        &[ACME],
        json!({"$ai_model": "chat-large", "$ai_input_tokens": "ten"}),
        "2025-06-01",
        NONE,
        "unpriced 0 USD reason=usage_invalid | usage_invalid",
    );
}

#[test]
fn missing_bucket_prices_leave_the_event_partially_priced() {
    // output_audio has no price; the request bucket without a price is not unpriced (§9.3).
    assert_cost(
        &[ACME],
        json!({"$ai_model": "chat-large", "$ai_output_tokens": 100, "$ai_audio_output_tokens": 40,
            "$ai_cache_creation_1h_input_tokens": 5, "$ai_input_tokens": 5}),
        "2025-06-01",
        NONE,
        "table 750000 USD t0.toml:acme/chat-large@2025-04-15 | output 60x12.5=750000 | partial \
         | unpriced cache_write_1h 5 | unpriced output_audio 40",
    );
}

#[test]
fn request_and_web_search_buckets() {
    let table = r#"schema_version = 1
[[model]]
id = "s/search"
provider = "s"
currency = "USD"
source = "https://s.example"
checked = 2025-01-01
[[model.price]]
effective_from = 2025-01-01
uncached_input = "1"
request = "2500"
web_search = "10000"
"#;
    assert_cost(
        &[table],
        json!({"$ai_model": "s/search", "$ai_input_tokens": 1000, "$ai_web_search_count": 3}),
        "2025-06-01",
        NONE,
        "table 33500000 USD t0.toml:s/search@2025-01-01 | uncached_input 1000x1=1000000 \
         | web_search 3x10000=30000000 | request 1x2500=2500000",
    );
    // Without a web_search price the searches are unpriced (strict), unlike the request.
    assert_cost(
        &[ACME],
        json!({"$ai_model": "chat-large", "$ai_input_tokens": 1000, "$ai_web_search_count": 3}),
        "2025-06-01",
        NONE,
        "table 2500000 USD t0.toml:acme/chat-large@2025-04-15 | uncached_input 1000x2.5=2500000 | partial \
         | unpriced web_search 3",
    );
}

#[test]
fn posthog_cache_defaults_are_opt_in() {
    let table = &table(&[
        model(
            "anthropic/claude-x",
            "",
            "uncached_input = \"3\"\noutput = \"15\"",
        ),
        model("openai/o-x", "", "uncached_input = \"2\"\noutput = \"8\""),
    ]);
    let props = |model: &str| {
        json!({"$ai_model": model, "$ai_input_tokens": 1000, "$ai_cache_read_input_tokens": 10000,
            "$ai_cache_creation_input_tokens": 2000, "$ai_cache_reporting_exclusive": true})
    };
    let fill = Options {
        cache_price_defaults_posthog: true,
        ..NONE
    };
    assert_cost(
        &[table],
        props("claude-x"),
        "2025-06-01",
        NONE,
        "unpriced 0 USD reason=unknown_model | unpriced uncached_input 1000 | unpriced cache_read 10000 \
         | unpriced cache_write 2000",
    );
    assert_cost(
        &[table],
        props("anthropic/claude-x"),
        "2025-06-01",
        NONE,
        "table 3000000 USD t0.toml:anthropic/claude-x@2025-01-01 | uncached_input 1000x3=3000000 | partial \
         | unpriced cache_read 10000 | unpriced cache_write 2000",
    );
    // Anthropic: cache read 0.1 × input, cache write 1.25 × input.
    assert_cost(
        &[table],
        props("anthropic/claude-x"),
        "2025-06-01",
        fill,
        "table 13500000 USD t0.toml:anthropic/claude-x@2025-01-01 | uncached_input 1000x3=3000000 \
         | cache_read 10000x0.3=3000000 | cache_write 2000x3.75=7500000",
    );
    // Others: cache read 0.5 × input.
    assert_cost(
        &[table],
        props("openai/o-x"),
        "2025-06-01",
        fill,
        "table 17000000 USD t0.toml:openai/o-x@2025-01-01 | uncached_input 1000x2=2000000 \
         | cache_read 10000x1=10000000 | cache_write 2000x2.5=5000000",
    );
    // Custom prices on a Claude model get the same fill.
    let custom = json!({"$ai_model": "claude-y", "$ai_input_tokens": 1000, "$ai_cache_read_input_tokens": 10000,
        "$ai_input_token_price": 0.000003, "$ai_output_token_price": "0.000015"});
    assert_cost(
        &[],
        custom,
        "2025-06-01",
        fill,
        "custom 6000000 USD | uncached_input 1000x3=3000000 | cache_read 10000x0.3=3000000",
    );
}

#[test]
fn supplied_cost_comes_first() {
    let usage = || {
        json!({"$ai_model": "chat-large", "$ai_input_tokens": 1000, "$ai_output_tokens": 100,
            "$ai_input_token_price": "0.000001", "$ai_output_token_price": "0.000002"})
    };
    let with = |extra: Value| {
        let mut v = usage();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    assert_cost(
        &[ACME],
        with(json!({"$ai_total_cost_usd": 0.0321})),
        "2025-06-01",
        NONE,
        "provided 32100000 USD",
    );
    assert_cost(
        &[ACME],
        with(json!({"$ai_total_cost_usd": "0.0321"})),
        "2025-06-01",
        NONE,
        "provided 32100000 USD",
    );
    assert_cost(
        &[ACME],
        with(
            json!({"$ai_input_cost_usd": 0.001, "$ai_output_cost_usd": 2e-3, "$ai_request_cost_usd": 0.0001,
            "$ai_web_search_cost_usd": "0.00002"}),
        ),
        "2025-06-01",
        NONE,
        "provided 3120000 USD",
    );
    // Half-even to nano: 0.0000000005 → 0, 0.0000000015 → 2.
    assert_cost(
        &[ACME],
        with(json!({"$ai_total_cost_usd": 5e-10})),
        "2025-06-01",
        NONE,
        "provided 0 USD",
    );
    assert_cost(
        &[ACME],
        with(json!({"$ai_total_cost_usd": 1.5e-9})),
        "2025-06-01",
        NONE,
        "provided 2 USD",
    );
    // Only one of input/output cost: not a supplied cost, so custom prices decide.
    assert_cost(
        &[ACME],
        with(json!({"$ai_input_cost_usd": 0.001})),
        "2025-06-01",
        NONE,
        "custom 1200000 USD | uncached_input 1000x1=1000000 | output 100x2=200000",
    );
    assert_cost(
        &[ACME],
        json!({"$ai_model": "chat-large", "$ai_input_tokens": 1000}),
        "2025-06-01",
        NONE,
        "table 2500000 USD t0.toml:acme/chat-large@2025-04-15 | uncached_input 1000x2.5=2500000",
    );
    // A supplied cost wins even when the usage is invalid (§9.4).
    assert_cost(
        &[ACME],
        json!({"$ai_total_cost_usd": 1, "$ai_input_tokens": -5}),
        "2025-06-01",
        NONE,
        "provided 1000000000 USD | usage_invalid",
    );
}

#[test]
fn posthog_computed_costs() {
    let props = |source: &str| {
        json!({"$ai_model": "chat-large", "$ai_input_tokens": 1000, "$ai_total_cost_usd": 0.01,
            "$ai_cost_model_source": source})
    };
    assert_cost(
        &[ACME],
        props("passthrough"),
        "2025-06-01",
        NONE,
        "provided 10000000 USD",
    );
    assert_cost(
        &[ACME],
        props("openrouter"),
        "2025-06-01",
        NONE,
        "provided_posthog 10000000 USD",
    );
    let recompute = Options {
        recompute_posthog_costs: true,
        ..NONE
    };
    assert_cost(
        &[ACME],
        props("passthrough"),
        "2025-06-01",
        recompute,
        "provided 10000000 USD",
    );
    assert_cost(
        &[ACME],
        props("primary"),
        "2025-06-01",
        recompute,
        "table 2500000 USD t0.toml:acme/chat-large@2025-04-15 | uncached_input 1000x2.5=2500000",
    );
}

#[test]
fn invalid_costs_are_ignored_and_flagged() {
    for bad in [
        json!(-0.01),
        json!("abc"),
        json!(true),
        json!("NaN"),
        json!({"usd": 1}),
    ] {
        let props = json!({"$ai_model": "chat-large", "$ai_input_tokens": 1000, "$ai_total_cost_usd": bad,
            "$ai_input_cost_usd": "0.001", "$ai_output_cost_usd": "0.002"});
        assert_cost(
            &[ACME],
            props,
            "2025-06-01",
            NONE,
            "provided 3000000 USD | cost_invalid",
        );
    }
    let props = json!({"$ai_model": "chat-large", "$ai_input_tokens": 1000, "$ai_input_cost_usd": "-1",
        "$ai_output_cost_usd": "0.002"});
    assert_cost(
        &[ACME],
        props,
        "2025-06-01",
        NONE,
        "table 2500000 USD t0.toml:acme/chat-large@2025-04-15 | uncached_input 1000x2.5=2500000 | cost_invalid",
    );
    // null is absent, not invalid.
    let props =
        json!({"$ai_model": "chat-large", "$ai_input_tokens": 1000, "$ai_total_cost_usd": null});
    assert_cost(
        &[ACME],
        props,
        "2025-06-01",
        NONE,
        "table 2500000 USD t0.toml:acme/chat-large@2025-04-15 | uncached_input 1000x2.5=2500000",
    );
}

#[test]
fn custom_prices_are_exact() {
    // 2.5e-06 USD per token is 2.5 per 1M, read from the JSON text without a float.
    let props = json!({"$ai_model": "anything", "$ai_input_tokens": 3, "$ai_output_tokens": 7,
        "$ai_cache_read_input_tokens": 1, "$ai_cache_creation_5m_input_tokens": 1, "$ai_audio_output_tokens": 2,
        "$ai_input_token_price": 2.5e-06, "$ai_output_token_price": 0.00001,
        "$ai_cache_read_token_price": "1e-7", "$ai_cache_write_token_price": 0.000003125,
        "$ai_request_price": 0.001, "$ai_web_search_price": 0.01});
    assert_cost(
        &[],
        props,
        "2025-06-01",
        NONE,
        "custom 1075725 USD | uncached_input 1x2.5=2500 | cache_read 1x0.1=100 | cache_write_5m 1x3.125=3125 \
         | output 5x10=50000 | output_audio 2x10=20000 | request 1x1000=1000000",
    );
    // An invalid custom price is ignored and flagged; without both token prices the table decides.
    let props = json!({"$ai_model": "chat-large", "$ai_input_tokens": 1000, "$ai_input_token_price": "free",
        "$ai_output_token_price": 0.00001});
    assert_cost(
        &[ACME],
        props,
        "2025-06-01",
        NONE,
        "table 2500000 USD t0.toml:acme/chat-large@2025-04-15 | uncached_input 1000x2.5=2500000 | cost_invalid",
    );
}

#[test]
fn inconsistent_usage_is_priced_and_flagged() {
    assert_cost(
        &[ACME],
        json!({"$ai_model": "chat-large", "$ai_input_tokens": 100, "$ai_cache_read_input_tokens": 1000}),
        "2025-06-01",
        NONE,
        "table 250000 USD t0.toml:acme/chat-large@2025-04-15 | cache_read 1000x0.25=250000 | usage_inconsistent",
    );
}

#[test]
fn json_tables_read_decimals_exactly() {
    let json = r#"{"schema_version": 1, "model": [{"id": "j/m", "provider": "j", "currency": "USD",
        "source": "https://j.example", "checked": "2025-01-01",
        "price": [{"effective_from": "2025-01-01", "uncached_input": 0.1, "output": "0.300000001"}]}]}"#;
    let t = PriceTable::parse("j.json", json).expect("valid json table");
    let c = Pricing::new(vec![&t]).cost(
        object(&json!({"$ai_model": "j/m", "$ai_input_tokens": 10_000_000, "$ai_output_tokens": 100_000_000})),
        parse_instant("2025-02-01").unwrap(),
        &NONE,
    );
    assert_eq!(c.nano, 1_000_000_000 + 30_000_000_100);
    assert_eq!(t.sha256().len(), 64);
}

/// Each model is priced from `table` at `day`, with a source URL.
#[track_caller]
fn assert_priced_from(table: &str, day: &str, models: &[&str]) {
    let pricing = Pricing::new(Vec::new());
    for model in models {
        let l = pricing.lookup(model, None, parse_instant(day).unwrap());
        assert_eq!(l.table.as_deref(), Some(table), "{model}: {l:?}");
        assert!(l.version.is_some(), "{model}: {l:?}");
        assert!(
            l.source
                .as_deref()
                .is_some_and(|s| s.starts_with("https://")),
            "{model}"
        );
    }
}

#[test]
fn the_builtin_history_is_valid_dated_and_sourced() {
    let t = PriceTable::history();
    assert_eq!(t.name(), "history.toml");
    assert!(t.len() > 100, "{}", t.len());
    assert_priced_from(
        "history.toml",
        "2024-06-01",
        &[
            "gpt-4o",
            "claude-3-5-sonnet",
            "gemini-2.0-flash",
            "deepseek-chat",
            "kimi-k2",
        ],
    );
}

#[test]
fn the_builtin_table_is_valid_and_its_entries_have_sources() {
    let t = PriceTable::builtin();
    assert_eq!(t.name(), "default.toml");
    assert!(!t.is_empty());
    assert_priced_from(
        "default.toml",
        "2027-01-01",
        &[
            "gpt-4o",
            "gpt-4o-2024-08-06",
            "claude-opus-4-5-20251101",
            "gemini-2.5-pro",
            "gpt-4o-mini",
            "deepseek-chat",
            "qwen-max",
        ],
    );
}

/// The error text of refusing `table`.
#[track_caller]
fn assert_refused(table: &str, want: &str) {
    match PriceTable::parse("bad.toml", table) {
        Ok(_) => panic!("accepted: {table}"),
        Err(e) => assert_eq!(e.to_string(), want),
    }
}

/// A valid one-model table with `model_extra` lines in the model and `price_extra` in its one version.
fn one_model(model_extra: &str, price_extra: &str) -> String {
    table(&[model(
        "x/m",
        model_extra,
        &format!("output = \"1\"\n{price_extra}"),
    )])
}

#[test]
fn loader_refusals_name_file_model_and_field() {
    assert!(PriceTable::parse("ok.toml", &one_model("", "")).is_ok());
    let two = |a: &str, b: &str| {
        format!(
            "{}{}",
            one_model(a, ""),
            one_model(b, "").replace("schema_version = 1\n", "")
        )
    };
    assert_refused(
        &two("", ""),
        "price file bad.toml: model x/m: id: duplicate id",
    );
    assert_refused(
        &two("aliases = [\"m\"]", "aliases = [\"M\"]").replacen("id = \"x/m\"", "id = \"x/n\"", 1),
        "price file bad.toml: model x/m: aliases: \"M\" is also a name of model x/n",
    );
    assert_refused(
        &two("", "aliases = [\"X/N\"]").replacen("id = \"x/m\"", "id = \"x/n\"", 1),
        "price file bad.toml: model x/m: aliases: \"X/N\" is also a name of model x/n",
    );
    assert_refused(
        &one_model("match = 'gpt-(4'", ""),
        "price file bad.toml: model x/m: match: regex does not compile: error: unclosed group",
    );
    assert_refused(
        &one_model("", "cache_read = \"0.3.0\""),
        "price file bad.toml: model x/m: price[0].cache_read: \"0.3.0\" is not a decimal string",
    );
    assert_refused(
        &one_model("", "cache_read = \"-0.3\""),
        "price file bad.toml: model x/m: price[0].cache_read: \"-0.3\" is negative",
    );
    assert_refused(
        &one_model("", "cache_read = 0.3"),
        "price file bad.toml: model x/m: price[0].cache_read: expected a decimal string (a TOML float is inexact)",
    );
    assert_refused(
        &one_model(
            "",
            "[[model.price.tier]]\nabove_input_tokens = 10\noutput = \"x\"",
        ),
        "price file bad.toml: model x/m: price[0].tier[0].output: \"x\" is not a decimal string",
    );
    assert_refused(
        &one_model(
            "",
            "[[model.price]]\neffective_from = 2025-01-01\noutput = \"2\"",
        ),
        "price file bad.toml: model x/m: price[1].effective_from: not later than the previous version's \
         effective_from 2025-01-01",
    );
    assert_refused(
        &one_model(
            "",
            "[[model.price]]\neffective_from = 2024-01-01\noutput = \"2\"",
        ),
        "price file bad.toml: model x/m: price[1].effective_from: not later than the previous version's \
         effective_from 2025-01-01",
    );
    assert_refused(
        &one_model("", "").replace("\"USD\"", "\"XYZ\""),
        "price file bad.toml: model x/m: currency: \"XYZ\" is not an ISO 4217 currency code",
    );
    assert_refused(
        &one_model("", "").replace("\"USD\"", "\"usd\""),
        "price file bad.toml: model x/m: currency: \"usd\" is not an ISO 4217 currency code",
    );
    assert_refused(
        &one_model("", "").replace("source = \"https://x.example\"\n", ""),
        "price file bad.toml: model x/m: source: missing",
    );
    assert_refused(
        &one_model("", "").replace("source = \"https://x.example\"", "source = \" \""),
        "price file bad.toml: model x/m: source: missing",
    );
    assert_refused(
        &one_model("", "").replace("checked = 2025-01-01\n", ""),
        "price file bad.toml: model x/m: checked: missing",
    );
    assert_refused(
        &one_model("", "").replace("checked = 2025-01-01", "checked = \"last week\""),
        "price file bad.toml: model x/m: checked: \"last week\" is not a date or an RFC 3339 instant",
    );
    assert_refused(
        &one_model("colour = \"red\"", ""),
        "price file bad.toml: model x/m: colour: unknown key",
    );
    assert_refused(
        &one_model("", "outptu = \"1\""),
        "price file bad.toml: model x/m: price[0].outptu: unknown key",
    );
    assert_refused(
        &one_model(
            "",
            "[[model.price.variant]]\nservice_tier = [\"flex\"]\nspeed = \"fast\"",
        ),
        "price file bad.toml: model x/m: price[0].variant[0].speed: unknown key",
    );
    assert_refused(
        &format!("generator = \"x\"\n{}", one_model("", "")),
        "price file bad.toml: generator: unknown key",
    );
    assert_refused(
        &one_model("", "").replace("schema_version = 1", "schema_version = 2"),
        "price file bad.toml: schema_version: unsupported schema version (this liucun reads 1)",
    );
    assert_refused(
        &one_model("", "").replace("schema_version = 1\n", ""),
        "price file bad.toml: schema_version: missing",
    );
    assert_refused(
        &one_model("", "").replace("id = \"x/m\"\n", ""),
        "price file bad.toml: model model[0]: id: missing",
    );
    assert_refused(
        &one_model("", "").replace("provider = \"x\"", "provider = \"X\""),
        "price file bad.toml: model x/m: provider: must be lowercase",
    );
    assert_refused(
        &one_model("", "").replace(
            "effective_from = 2025-01-01",
            "effective_from = 2025-01-01T00:00:00",
        ),
        "price file bad.toml: model x/m: price[0].effective_from: \"2025-01-01T00:00:00\" is not a date or an \
         RFC 3339 instant",
    );
    assert_refused(
        &one_model(
            "",
            "[[model.price.variant]]\nservice_tier = [\"flex\"]\n[[model.price.variant]]\nservice_tier = [\"Flex\"]",
        ),
        "price file bad.toml: model x/m: price[0].variant[1].service_tier: Flex is listed twice",
    );
    assert_refused(
        &one_model(
            "",
            "[[model.price.tier]]\nabove_input_tokens = 5\n[[model.price.tier]]\nabove_input_tokens = 5",
        ),
        "price file bad.toml: model x/m: price[0].tier[1].above_input_tokens: 5 is listed twice",
    );
    let syntax = PriceTable::parse("bad.toml", "schema_version = 1\n[[model]\n")
        .unwrap_err()
        .to_string();
    assert!(
        syntax.starts_with("price file bad.toml: TOML parse error at line 2"),
        "{syntax}"
    );
    assert_refused(
        r#"{"schema_version": 1, "model": [{"id": "j/m", "provider": "j", "currency": "USD", "source": "s",
            "checked": "2025-01-01", "price": [{"effective_from": "2025-01-01", "output": -1}]}]}"#,
        "price file bad.toml: model j/m: price[0].output: \"-1\" is negative",
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The same call reported inclusively or exclusively costs the same (events.md §6.1).
    #[test]
    fn inclusive_and_exclusive_reporting_cost_the_same(
        uncached in 0u64..400_000,
        cache_read in 0u64..400_000,
        cache_write in 0u64..50_000,
        write_1h in 0u64..50_000,
        output in 0u64..100_000,
        day in 0i64..400,
    ) {
        let table = PriceTable::parse("acme.toml", ACME).unwrap();
        let pricing = Pricing::new(vec![&table]);
        let ts = parse_instant("2025-01-01").unwrap() + day * 86_400_000_000;
        let cw = cache_write + write_1h;
        let props = |input: u64, exclusive: bool| json!({"$ai_model": "chat-large", "$ai_input_tokens": input,
            "$ai_cache_read_input_tokens": cache_read, "$ai_cache_creation_input_tokens": cw,
            "$ai_cache_creation_1h_input_tokens": write_1h, "$ai_output_tokens": output,
            "$ai_cache_reporting_exclusive": exclusive});
        let exclusive = pricing.cost(object(&props(uncached, true)), ts, &NONE);
        let inclusive = pricing.cost(object(&props(uncached + cache_read + cw, false)), ts, &NONE);
        prop_assert_eq!(&exclusive.buckets, &inclusive.buckets);
        prop_assert_eq!(exclusive.nano, inclusive.nano);
        prop_assert_eq!(render(&exclusive), render(&inclusive));
    }
}
