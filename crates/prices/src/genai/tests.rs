//! Tests of the genai-prices import: small inline samples in genai-prices' `data.json` shape, imported, loaded as
//! a table, and matched and priced through [`Pricing`] as events would be.

use serde_json::json;

use super::import_genai_prices;
use crate::{ImportSummary, Lookup, Options, PriceTable, Pricing, parse_instant};

/// Imports `providers` (a JSON array) on 2026-01-02 without a filter.
#[track_caller]
fn import(providers: &str) -> (String, ImportSummary) {
    import_genai_prices(providers, "2026-01-02", "", &|_, _| true).unwrap()
}

/// Imports one provider with these models.
#[track_caller]
fn import_models(provider: &str, models: &str) -> (String, ImportSummary, PriceTable) {
    let (toml, summary) = import(&format!(
        r#"[{{"id": "{provider}", "name": "P", "api_pattern": "x",
             "pricing_urls": ["https://example.com/pricing"], "models": {models}}}]"#
    ));
    let table = PriceTable::parse("genai.toml", &toml).unwrap();
    (toml, summary, table)
}

#[track_caller]
fn lookup(table: &PriceTable, model: &str, provider: Option<&str>, day: &str) -> Lookup {
    Pricing::new(vec![table]).lookup(model, provider, parse_instant(day).unwrap())
}

/// The id the lookup matched in `table`, and by which stage; `None` when `table` has no match.
#[track_caller]
fn matched(table: &PriceTable, model: &str, provider: Option<&str>) -> Option<(String, u8)> {
    let l = lookup(table, model, provider, "2026-01-01");
    if l.table.as_deref() != Some("genai.toml") {
        return None;
    }
    let best = l.candidates.first()?;
    Some((best.id.clone(), best.stage.number()))
}

/// `bucket price[@tier]` for every bucket of an event priced on `day`.
#[track_caller]
fn priced(table: &PriceTable, props: serde_json::Value, day: &str) -> String {
    let props = props.as_object().unwrap().clone();
    let c =
        Pricing::new(vec![table]).cost(&props, parse_instant(day).unwrap(), &Options::default());
    assert_eq!(c.table.as_deref(), Some("genai.toml"), "{c:?}");
    let mut parts: Vec<String> = c
        .buckets
        .iter()
        .map(|b| match b.tier {
            Some(t) => format!("{} {}@{t}", b.bucket.as_str(), b.price_per_million),
            None => format!("{} {}", b.bucket.as_str(), b.price_per_million),
        })
        .collect();
    if let Some(v) = &c.variant {
        parts.insert(0, format!("[{v}]"));
    }
    parts.join(", ")
}

#[test]
fn a_plain_model_is_one_version_from_1970_with_the_providers_price_page() {
    let (toml, summary, table) = import_models(
        "openai",
        r#"[{"id": "gpt-4o", "match": {"equals": "gpt-4o"}, "name": "GPT-4o", "context_window": 128000,
             "prices": {"input_mtok": 2.5, "cache_read_mtok": 1.25, "output_mtok": 10}}]"#,
    );
    assert_eq!((summary.n_models, summary.n_new), (1, 1));
    let want = "\n[[model]]\nid = \"openai/gpt-4o\"\nprovider = \"openai\"\naliases = [\"gpt-4o\"]\n\
                currency = \"USD\"\nsource = \"https://example.com/pricing\"\nchecked = 2026-01-02\n  \
                [[model.price]]\n  effective_from = 1970-01-01\n  uncached_input = \"2.5\"\n  \
                cache_read = \"1.25\"\n  output = \"10\"\n";
    assert_eq!(toml, format!("schema_version = 1\n{want}"));
    let l = lookup(&table, "gpt-4o", None, "2001-01-01");
    assert_eq!(l.version.as_deref(), Some("1970-01-01"));
}

#[test]
fn numbers_stay_exact_decimals_and_per_thousand_prices_scale_to_per_million() {
    let (toml, _, _) = import_models(
        "google",
        r#"[{"id": "m", "match": {"equals": "m"},
             "prices": {"input_mtok": 0.075, "cache_read_mtok": "0.01875", "output_mtok": 3e-1,
                        "cache_write_mtok": 0.30000000000000004, "output_audio_mtok": 1E+1,
                        "requests_kcount": 0.0011, "web_searches_kcount": 35}}]"#,
    );
    for want in [
        "uncached_input = \"0.075\"",
        "cache_read = \"0.01875\"",
        "output = \"0.3\"",
        "cache_write = \"0.30000000000000004\"",
        "output_audio = \"10\"",
        "request = \"1.1\"",
        "web_search = \"35000\"",
    ] {
        assert!(toml.contains(want), "missing {want:?} in\n{toml}");
    }
}

#[test]
fn equals_clauses_become_aliases_that_match_in_any_case() {
    let (toml, _, table) = import_models(
        "anthropic",
        r#"[{"id": "claude-opus-4-0", "match": {"or": [{"equals": "claude-opus-4"}, {"equals": "Claude-Opus-4"},
             {"equals": "claude-opus-4-20250514"}]}, "prices": {"input_mtok": 15, "output_mtok": 75}}]"#,
    );
    assert!(
        toml.contains("aliases = [\"claude-opus-4\", \"claude-opus-4-20250514\"]\n"),
        "{toml}"
    );
    assert!(!toml.contains("match ="), "{toml}");
    let id = "anthropic/claude-opus-4-0".to_owned();
    assert_eq!(
        matched(&table, "CLAUDE-OPUS-4", None),
        Some((id.clone(), 1))
    );
    assert_eq!(
        matched(&table, "claude-opus-4-20250514", None),
        Some((id, 1))
    );
    assert_eq!(matched(&table, "claude-opus-4-2025", None), None);
}

#[test]
fn starts_with_ends_with_and_contains_become_an_anchored_regex_with_escaped_literals() {
    let (toml, _, table) = import_models(
        "openai",
        r#"[{"id": "gpt-4.1", "match": {"starts_with": "gpt-4.1"}, "prices": {"output_mtok": 8}},
            {"id": "tail", "match": {"ends_with": "-v1:0"}, "prices": {"output_mtok": 1}},
            {"id": "mid", "match": {"contains": "nova+lite"}, "prices": {"output_mtok": 2}},
            {"id": "odd", "match": {"ends_with": "x#a&b~c (x) [y] {2} ^$|?*\\"}, "prices": {"output_mtok": 3}}]"#,
    );
    assert!(toml.contains("match = \"(?is)gpt-4\\\\.1.*\"\n"), "{toml}");
    assert!(toml.contains("match = \"(?is).*-v1:0\"\n"), "{toml}");
    assert!(
        toml.contains("match = \"(?is).*nova\\\\+lite.*\"\n"),
        "{toml}"
    );
    let gpt = Some(("openai/gpt-4.1".to_owned(), 3));
    assert_eq!(matched(&table, "gpt-4.1", None), gpt);
    assert_eq!(matched(&table, "GPT-4.1-mini-2025-04-14", None), gpt);
    assert_eq!(matched(&table, "gpt-4x1", None), None, "the dot is literal");
    assert_eq!(
        matched(&table, "my-gpt-4.1", None),
        None,
        "anchored at the start"
    );
    let tail = Some(("openai/tail".to_owned(), 3));
    assert_eq!(matched(&table, "amazon.titan-v1:0", None), tail);
    assert_eq!(matched(&table, "amazon.titan-v1:0x", None), None);
    let mid = Some(("openai/mid".to_owned(), 3));
    assert_eq!(matched(&table, "us.amazon.NOVA+LITE-v2", None), mid);
    assert_eq!(matched(&table, "us.amazon.novaalite", None), None);
    let odd = Some(("openai/odd".to_owned(), 3));
    assert_eq!(matched(&table, r"vX#A&B~C (X) [Y] {2} ^$|?*\", None), odd);
    assert_eq!(matched(&table, r"vx#a&b~c (x) [y] {2} ^$|?*", None), None);
    assert_eq!(matched(&table, r"vx#a&b~c x [y] yy ^$|?*\", None), None);
}

#[test]
fn or_clauses_give_aliases_and_one_alternation_that_ignores_case_in_every_branch() {
    let (toml, _, table) = import_models(
        "anthropic",
        r#"[{"id": "claude-sonnet-4-0", "match": {"or": [{"starts_with": "claude-sonnet-4-0"},
             {"equals": "claude-sonnet-4"}, {"or": [{"starts_with": "claude-4-sonnet"}, {"equals": "sonnet-4"}]}]},
             "prices": {"input_mtok": 3, "output_mtok": 15}}]"#,
    );
    assert!(
        toml.contains(
            "aliases = [\"claude-sonnet-4\", \"sonnet-4\"]\n\
             match = \"(?is)claude-sonnet-4-0.*|claude-4-sonnet.*\"\n"
        ),
        "{toml}"
    );
    let id = "anthropic/claude-sonnet-4-0".to_owned();
    assert_eq!(matched(&table, "Sonnet-4", None), Some((id.clone(), 1)));
    assert_eq!(
        matched(&table, "CLAUDE-4-SONNET-20250514", None),
        Some((id.clone(), 3))
    );
    assert_eq!(
        matched(&table, "claude-sonnet-4-0-latest", None),
        Some((id, 3))
    );
    assert_eq!(matched(&table, "claude-sonnet-4-5", None), None);
}

#[test]
fn a_python_regex_is_searched_anywhere_and_what_rust_cannot_say_is_left_out_and_noted() {
    let (toml, summary, table) = import_models(
        "google",
        r#"[{"id": "o-series", "match": {"regex": "^o[134]"}, "prices": {"output_mtok": 1}},
            {"id": "dated", "match": {"regex": "-\\d{8}$"}, "prices": {"output_mtok": 2}},
            {"id": "gemini-2.5-flash-lite", "match": {"or": [{"equals": "gemini-2.5-flash-lite"},
                {"and": [{"starts_with": "gemini-2.5-flash-lite-preview"}, {"regex": "^(?!.*-tts)"}]}]},
             "prices": {"output_mtok": 3}},
            {"id": "no-tts", "match": {"regex": "^gemini-x(?!-tts)"}, "prices": {"output_mtok": 4}}]"#,
    );
    assert!(
        toml.contains("match = \"(?is)(?-s:^o[134]).*\"\n"),
        "{toml}"
    );
    assert!(
        toml.contains("match = \"(?is).*(?-s:-\\\\d{8}$)\"\n"),
        "{toml}"
    );
    assert_eq!(
        matched(&table, "o3-mini", None),
        Some(("google/o-series".to_owned(), 3))
    );
    assert_eq!(matched(&table, "xo3", None), None);
    assert_eq!(
        matched(&table, "foo-20250101", None),
        Some(("google/dated".to_owned(), 3))
    );
    assert_eq!(matched(&table, "foo-20250101-x", None), None);
    // The `and` branch and the look-ahead regex are left out: fewer names match, never more.
    assert_eq!(
        matched(&table, "gemini-2.5-flash-lite-preview-06-17", None),
        None
    );
    assert_eq!(
        matched(&table, "gemini-2.5-flash-lite", None),
        Some(("google/gemini-2.5-flash-lite".to_owned(), 1))
    );
    assert_eq!(matched(&table, "gemini-x", None), None);
    assert_eq!(
        summary
            .notes
            .get("match clause a Rust regex cannot express (left out)"),
        Some(&2)
    );
    assert_eq!(
        summary
            .notes
            .get("no alias or regex left (only the id matches)"),
        Some(&1)
    );
    assert!(
        toml.contains("notes = \"genai-prices also matches names meeting all of starts_with"),
        "{toml}"
    );
}

#[test]
fn dated_prices_become_versions_from_their_start_dates() {
    let (toml, _, table) = import_models(
        "anthropic",
        r#"[{"id": "claude-sonnet-4-6", "match": {"starts_with": "claude-sonnet-4-6"},
             "prices": [{"prices": {"input_mtok": 3, "output_mtok": 15}},
                        {"constraint": {"start_date": "2026-03-13"}, "prices": {"input_mtok": 2, "output_mtok": 15}},
                        {"constraint": {"start_date": "2026-06-01"}, "prices": {"input_mtok": 2, "output_mtok": 15}},
                        {"constraint": {"start_date": "2026-09-01"}, "prices": {"input_mtok": 2.5, "output_mtok": 12}}]}]"#,
    );
    let l = lookup(&table, "claude-sonnet-4-6", None, "2026-03-13");
    // The 2026-06-01 entry repeats the prices before it, so it adds no version.
    assert_eq!(l.versions, ["1970-01-01", "2026-03-13", "2026-09-01"]);
    let at = |day: &str| {
        priced(
            &table,
            json!({"$ai_model": "claude-sonnet-4-6", "$ai_input_tokens": 10, "$ai_output_tokens": 10}),
            day,
        )
    };
    assert_eq!(at("2026-03-12"), "uncached_input 3, output 15");
    assert_eq!(at("2026-03-13"), "uncached_input 2, output 15");
    assert_eq!(at("2026-12-31"), "uncached_input 2.5, output 12");
    assert!(
        toml.contains(
            "effective_from = 2026-09-01\n  uncached_input = \"2.5\"\n  output = \"12\"\n"
        ),
        "{toml}"
    );
}

#[test]
fn constraints_tagged_with_their_type_as_in_the_npm_package_read_the_same() {
    let (_, summary, table) = import_models(
        "anthropic",
        r#"[{"id": "m", "match": {"equals": "m"},
             "prices": [{"prices": {"input_mtok": 3}},
                        {"constraint": {"type": "start_date", "start_date": "2026-03-13"}, "prices": {"input_mtok": 2}}]},
            {"id": "n", "match": {"equals": "n"},
             "prices": [{"prices": {"input_mtok": 3}},
                        {"constraint": {"type": "time_of_date", "start_date": "2026-03-13"}, "prices": {"input_mtok": 2}}]}]"#,
    );
    assert_eq!(
        lookup(&table, "m", None, "2026-03-13").versions,
        ["1970-01-01", "2026-03-13"]
    );
    // A tag that does not fit its fields is refused, as any unknown constraint.
    assert_eq!(
        summary.skipped_entries.get("unknown price constraint"),
        Some(&1)
    );
}

#[test]
fn a_dated_first_price_also_applies_before_its_date_as_in_genai_prices() {
    let (_, _, table) = import_models(
        "x",
        r#"[{"id": "m", "match": {"equals": "m"},
             "prices": [{"constraint": {"start_date": "2026-01-01"}, "prices": {"output_mtok": 1}},
                        {"constraint": {"start_date": "2026-02-01"}, "prices": {"output_mtok": 2}}]}]"#,
    );
    let l = lookup(&table, "m", None, "2025-06-01");
    assert_eq!(l.versions, ["1970-01-01", "2026-02-01"]);
    assert_eq!(l.prices, [("output", "1".to_owned())]);
}

#[test]
fn tiered_prices_become_input_token_tiers_that_apply_strictly_above_the_start() {
    let (toml, summary, table) = import_models(
        "anthropic",
        r#"[{"id": "claude-sonnet-4-5", "match": {"equals": "claude-sonnet-4-5"},
             "prices": {"input_mtok": {"base": 3, "tiers": [{"start": 200000, "price": 6}]},
                        "cache_read_mtok": {"base": 0.3, "tiers": [{"start": 200000, "price": 0.6}]},
                        "output_mtok": {"base": 15, "tiers": [{"start": 500000, "price": 30}, {"start": 200000, "price": 22.5}]},
                        "web_searches_kcount": 10}}]"#,
    );
    assert!(summary.skipped_entries.is_empty(), "{summary:?}");
    assert!(
        toml.contains(
            "    [[model.price.tier]]\n    above_input_tokens = 200000\n    uncached_input = \"6\"\n    \
             cache_read = \"0.6\"\n    output = \"22.5\"\n    [[model.price.tier]]\n    \
             above_input_tokens = 500000\n    output = \"30\"\n"
        ),
        "{toml}"
    );
    let event = |input: u64| {
        json!({"$ai_model": "claude-sonnet-4-5", "$ai_input_tokens": input, "$ai_output_tokens": 10,
               "$ai_web_search_count": 1})
    };
    assert_eq!(
        priced(&table, event(200_000), "2026-01-01"),
        "uncached_input 3, output 15, web_search 10000"
    );
    assert_eq!(
        priced(&table, event(200_001), "2026-01-01"),
        "uncached_input 6@200000, output 22.5@200000, web_search 10000"
    );
    assert_eq!(
        priced(&table, event(600_000), "2026-01-01"),
        "uncached_input 6@200000, output 30@500000, web_search 10000"
    );
}

#[test]
fn a_tier_that_is_not_on_input_tokens_skips_the_model_with_a_counted_reason() {
    let (toml, summary, _) = import_models(
        "x",
        r#"[{"id": "ok", "match": {"equals": "ok"}, "prices": {"output_mtok": 1}},
            {"id": "by-output", "match": {"equals": "by-output"},
             "prices": {"output_mtok": {"base": 1, "tiers": [{"start": 1000, "price": 2, "unit": "output_tokens"}]}}},
            {"id": "fractional", "match": {"equals": "fractional"},
             "prices": {"output_mtok": {"base": 1, "tiers": [{"start": 1000.5, "price": 2}]}}}]"#,
    );
    assert_eq!(summary.n_models, 1);
    assert_eq!(
        summary
            .skipped_entries
            .get("tiered price not on total input tokens"),
        Some(&1)
    );
    assert_eq!(summary.skipped_entries.get("malformed price"), Some(&1));
    assert!(!toml.contains("by-output"), "{toml}");
}

#[test]
fn service_tier_and_batch_variants_follow_their_start_dates_and_list_order() {
    let (_, summary, table) = import_models(
        "openai",
        r#"[{"id": "gpt-4.1", "match": {"equals": "gpt-4.1"},
             "prices": {"input_mtok": 2, "cache_read_mtok": 0.5, "output_mtok": 8},
             "price_variants": [
                {"when": {"service_tier": "default"}, "prices": {}},
                {"when": {"service_tier": "priority"}, "prices": {"input_mtok": 3.5, "output_mtok": 14},
                 "constraint": {"start_date": "2026-10-12"}},
                {"when": {"processing": "batch"}, "prices": {"input_mtok": 1.5}, "constraint": {"start_date": "2027-01-01"}},
                {"when": {"processing": "batch"}, "prices": {"input_mtok": 1, "output_mtok": 4}},
                {"when": {"speed": "fast"}, "prices": {"input_mtok": 9}}]}]"#,
    );
    let event = |tier: &str| {
        json!({"$ai_model": "gpt-4.1", "$ai_input_tokens": 10, "$ai_output_tokens": 10,
               "$ai_model_parameters": {"service_tier": tier}})
    };
    assert_eq!(
        priced(&table, event("priority"), "2026-10-11"),
        "uncached_input 2, output 8"
    );
    assert_eq!(
        priced(&table, event("priority"), "2026-10-12"),
        "[priority], uncached_input 3.5, output 14"
    );
    assert_eq!(
        priced(&table, event("default"), "2026-10-12"),
        "uncached_input 2, output 8"
    );
    assert_eq!(
        priced(&table, event("batch"), "2026-12-31"),
        "[batch], uncached_input 1, output 4"
    );
    // From 2027 the first batch entry holds too, and wins for the key it lists.
    assert_eq!(
        priced(&table, event("batch"), "2027-01-01"),
        "[batch], uncached_input 1.5, output 4"
    );
    let l = lookup(&table, "gpt-4.1", None, "2027-06-01");
    assert_eq!(l.versions, ["1970-01-01", "2026-10-12", "2027-01-01"]);
    assert_eq!(
        summary
            .notes
            .get("price variant selected by speed (not imported)"),
        Some(&1)
    );
}

#[test]
fn a_flat_variant_over_tiered_prices_keeps_the_version_tiers_off_its_buckets() {
    let (_, _, table) = import_models(
        "anthropic",
        r#"[{"id": "claude-opus-4-6", "match": {"equals": "claude-opus-4-6"},
             "prices": {"input_mtok": {"base": 5, "tiers": [{"start": 200000, "price": 10}]},
                        "output_mtok": {"base": 25, "tiers": [{"start": 200000, "price": 37.5}]}},
             "price_variants": [
                {"when": {"processing": "batch"}, "prices": {"input_mtok": 2.5, "output_mtok": 12.5}},
                {"when": {"service_tier": "priority"}, "prices": {"input_mtok": 8.5}},
                {"when": {"service_tier": "flex"},
                 "prices": {"input_mtok": {"base": 2.5, "tiers": [{"start": 100000, "price": 4}]}}}]}]"#,
    );
    let event = |tier: &str| {
        json!({"$ai_model": "claude-opus-4-6", "$ai_input_tokens": 300_000, "$ai_output_tokens": 10,
               "$ai_model_parameters": {"service_tier": tier}})
    };
    // genai-prices replaces a whole key: a flat batch price is flat at any input size.
    assert_eq!(
        priced(&table, event("batch"), "2026-01-01"),
        "[batch], uncached_input 2.5@200000, output 12.5@200000"
    );
    // Priority overrides input flat; output keeps its tiers.
    assert_eq!(
        priced(&table, event("priority"), "2026-01-01"),
        "[priority], uncached_input 8.5, output 37.5@200000"
    );
    // Flex has tiers of its own for input; output keeps the version's.
    assert_eq!(
        priced(&table, event("flex"), "2026-01-01"),
        "[flex], uncached_input 4@100000, output 37.5@200000"
    );
    let small = json!({"$ai_model": "claude-opus-4-6", "$ai_input_tokens": 150_000, "$ai_output_tokens": 10,
                       "$ai_model_parameters": {"service_tier": "flex"}});
    assert_eq!(
        priced(&table, small, "2026-01-01"),
        "[flex], uncached_input 4@100000, output 25"
    );
}

#[test]
fn fields_without_a_bucket_are_counted_and_named_in_notes() {
    let (toml, summary) = import(
        r#"[{"id": "google", "name": "Google", "api_pattern": "x", "pricing_urls": [], "new_provider_field": 1,
             "models": [
                {"id": "gemini-2.5-flash", "match": {"equals": "gemini-2.5-flash"}, "modalities": ["text"],
                 "prices": {"input_mtok": 0.3, "output_mtok": 2.5, "input_audio_mtok": 1,
                            "storage_searches_kcount": 2.5}},
                {"id": "gemini-2.0-flash", "match": {"equals": "gemini-2.0-flash"},
                 "prices": {"input_mtok": 0.1, "output_mtok": 0.4, "input_audio_mtok": 0.7}},
                {"id": "chirp", "match": {"equals": "chirp"}, "prices": {"input_audio_hours": 0.96}},
                {"id": "gemma:free", "match": {"equals": "gemma:free"}, "prices": {}}]}]"#,
    );
    let count = |field: &str| summary.skipped_fields.get(field).copied();
    assert_eq!(count("input_audio_mtok"), Some(2));
    assert_eq!(count("storage_searches_kcount"), Some(1));
    assert_eq!(count("input_audio_hours"), Some(1));
    assert_eq!(count("model.modalities"), Some(1));
    assert_eq!(count("provider.new_provider_field"), Some(1));
    assert_eq!(
        summary
            .skipped_entries
            .get("no price liucun has a bucket for"),
        Some(&1)
    );
    assert_eq!(
        summary
            .skipped_entries
            .get("no prices (genai-prices charges nothing)"),
        Some(&1)
    );
    assert_eq!(summary.n_models, 2);
    assert!(
        toml.contains(
            "notes = \"genai-prices also prices input_audio_mtok, storage_searches_kcount, which liucun has no \
             bucket for.\"\n"
        ),
        "{toml}"
    );
    assert!(
        toml.contains(&format!("source = \"{}\"", super::GENAI_PRICES_SOURCE)),
        "{toml}"
    );
}

#[test]
fn time_of_day_prices_are_noted_and_the_rest_of_day_price_applies() {
    let (toml, summary, table) = import_models(
        "deepseek",
        r#"[{"id": "deepseek-chat", "match": {"equals": "deepseek-chat"},
             "prices": [{"prices": {"input_mtok": 0.135, "output_mtok": 0.55}},
                        {"constraint": {"start_time": "00:30:00+00:00", "end_time": "16:30:00+00:00"},
                         "prices": {"input_mtok": 0.27, "output_mtok": 1.1}}]}]"#,
    );
    let l = lookup(&table, "deepseek-chat", None, "2026-01-01");
    assert_eq!(
        l.prices,
        [
            ("uncached_input", "0.135".to_owned()),
            ("output", "0.55".to_owned())
        ]
    );
    assert_eq!(
        summary
            .notes
            .get("time-of-day price (not applied; the rest-of-day price is)"),
        Some(&1)
    );
    assert!(
        toml.contains(
            "genai-prices charges input_mtok 0.27, output_mtok 1.1 daily from 00:30:00+00:00 to 16:30:00+00:00"
        ),
        "{toml}"
    );
}

#[test]
fn a_name_other_models_accept_too_goes_into_the_regex_so_the_provider_decides() {
    let (toml, summary) = import(
        r#"[{"id": "azure", "name": "Azure", "api_pattern": "x", "models": [
              {"id": "gpt-4o-2024-11-20", "match": {"or": [{"equals": "gpt-4o"}, {"equals": "gpt-4o-2024-11-20"}]},
               "prices": {"output_mtok": 11}}]},
            {"id": "anthropic", "name": "Anthropic", "api_pattern": "x", "model_match": {"contains": "claude"},
             "models": [
              {"id": "claude-opus-4-6", "match": {"starts_with": "claude-opus-4-6"}, "prices": {"output_mtok": 25}}]},
            {"id": "openai", "name": "OpenAI", "api_pattern": "x", "model_match": {"starts_with": "gpt-"}, "models": [
              {"id": "gpt-4o-mini", "match": {"starts_with": "gpt-4o-mini"}, "prices": {"output_mtok": 0.6}},
              {"id": "gpt-4o", "match": {"or": [{"equals": "gpt-4o"}, {"equals": "gpt-4o-mini-tts"}]},
               "prices": {"output_mtok": 10}}]},
            {"id": "reseller", "name": "R", "api_pattern": "x", "models": [
              {"id": "claude-opus-4-6", "match": {"equals": "claude-opus-4-6"}, "prices": {"output_mtok": 20}},
              {"id": "anthropic/claude-3.5-haiku", "match": {"equals": "anthropic/claude-3.5-haiku"},
               "prices": {"output_mtok": 4}}]},
            {"id": "anthropic", "name": "Anthropic", "api_pattern": "x", "models": [
              {"id": "claude-3-5-haiku-latest", "match": {"starts_with": "claude-3.5-haiku"},
               "prices": {"output_mtok": 4}}]}]"#,
    );
    let table = PriceTable::parse("genai.toml", &toml).unwrap();
    let best = |m: &str, p: Option<&str>| matched(&table, m, p);
    let pair = |id: &str, stage: u8| Some((id.to_owned(), stage));
    // Without a provider, the model genai-prices tries first: openai has a model_match, azure none.
    assert_eq!(best("gpt-4o", None), pair("openai/gpt-4o", 3));
    // With one, that provider's model: by `provider/model` = id, else by the regex ranking.
    assert_eq!(best("gpt-4o", Some("openai")), pair("openai/gpt-4o", 2));
    assert_eq!(
        best("gpt-4o", Some("azure")),
        pair("azure/gpt-4o-2024-11-20", 3)
    );
    // A name only one model accepts stays an alias.
    assert_eq!(
        best("GPT-4o-2024-11-20", Some("openai")),
        pair("azure/gpt-4o-2024-11-20", 1)
    );
    // The reseller's `equals` must not beat anthropic's `starts_with` in stage 1.
    assert_eq!(
        best("claude-opus-4-6", None),
        pair("anthropic/claude-opus-4-6", 3)
    );
    assert_eq!(
        best("claude-opus-4-6", Some("reseller")),
        pair("reseller/claude-opus-4-6", 2)
    );
    // Stage 2 tries `anthropic/claude-3.5-haiku` as a name: the reseller's must not take anthropic's event.
    assert_eq!(
        best("claude-3.5-haiku", Some("anthropic")),
        pair("anthropic/claude-3-5-haiku-latest", 3)
    );
    assert_eq!(
        best("anthropic/claude-3.5-haiku", Some("reseller")),
        pair("reseller/anthropic/claude-3.5-haiku", 2)
    );
    // `gpt-4o-mini` comes first in openai's list and matches `gpt-4o-mini-tts` first, as in genai-prices.
    assert_eq!(best("gpt-4o-mini-tts", None), pair("openai/gpt-4o-mini", 3));
    assert!(
        toml.contains("aliases = [\"gpt-4o-2024-11-20\"]\nmatch = \"(?is)gpt-4o\"\n"),
        "{toml}"
    );
    assert!(
        toml.contains("match = \"(?is)gpt-4o|gpt-4o-mini-tts\"\n"),
        "{toml}"
    );
    assert_eq!(
        summary
            .notes
            .get("name another model accepts too (in the regex, so the provider decides)"),
        Some(&4)
    );
}

#[test]
fn regex_ties_go_to_the_model_genai_prices_tries_first() {
    let (toml, _) = import(
        r#"[{"id": "openrouter", "name": "OpenRouter", "api_pattern": "x", "models": [
              {"id": "any-claude", "match": {"contains": "claude"}, "prices": {"output_mtok": 1}}]},
            {"id": "anthropic", "name": "Anthropic", "api_pattern": "x", "model_match": {"contains": "claude"},
             "models": [
              {"id": "claude-3-5-sonnet", "match": {"starts_with": "claude-3-5-sonnet"}, "prices": {"output_mtok": 15}},
              {"id": "claude-3", "match": {"starts_with": "claude-3"}, "prices": {"output_mtok": 9}}]}]"#,
    );
    let table = PriceTable::parse("genai.toml", &toml).unwrap();
    let best = |m: &str, p: Option<&str>| matched(&table, m, p).map(|(id, _)| id);
    assert_eq!(
        best("claude-3-5-sonnet-latest", None).as_deref(),
        Some("anthropic/claude-3-5-sonnet")
    );
    assert_eq!(
        best("claude-3-opus", None).as_deref(),
        Some("anthropic/claude-3")
    );
    assert_eq!(
        best("claude-3-opus", Some("openrouter")).as_deref(),
        Some("openrouter/any-claude")
    );
    assert_eq!(
        best("my-claude", None).as_deref(),
        Some("openrouter/any-claude")
    );
}

#[test]
fn without_a_provider_a_name_goes_to_the_provider_whose_model_match_takes_all_the_models_names() {
    let (toml, _) = import(
        r#"[{"id": "cerebras", "name": "C", "api_pattern": "x", "model_match": {"contains": "cerebras"}, "models": [
              {"id": "gpt-oss-120b", "match": {"or": [{"equals": "gpt-oss-120b"},
                                                       {"starts_with": "cerebras/gpt-oss-120b"}]},
               "prices": {"output_mtok": 0.69}}]},
            {"id": "openai", "name": "O", "api_pattern": "x", "model_match": {"starts_with": "gpt-"}, "models": [
              {"id": "gpt-oss-120b", "match": {"equals": "gpt-oss-120b"}, "prices": {"output_mtok": 0.6}}]}]"#,
    );
    let table = PriceTable::parse("genai.toml", &toml).unwrap();
    // cerebras comes first, but its model_match does not take `gpt-oss-120b`, so genai-prices asks openai.
    assert_eq!(
        matched(&table, "gpt-oss-120b", None),
        Some(("openai/gpt-oss-120b".to_owned(), 3))
    );
    assert_eq!(
        matched(&table, "gpt-oss-120b", Some("cerebras")),
        Some(("cerebras/gpt-oss-120b".to_owned(), 2))
    );
    assert_eq!(
        matched(&table, "cerebras/gpt-oss-120b-fast", None),
        Some(("cerebras/gpt-oss-120b".to_owned(), 3))
    );
}

#[test]
fn the_filter_sees_model_and_provider_ids() {
    let providers = r#"[{"id": "a", "name": "A", "api_pattern": "x", "models": [
                          {"id": "m", "match": {"equals": "m"}, "prices": {"output_mtok": 1}}]},
                        {"id": "b", "name": "B", "api_pattern": "x", "models": [
                          {"id": "n", "match": {"equals": "n"}, "prices": {"output_mtok": 1}}]}]"#;
    let (toml, summary) =
        import_genai_prices(providers, "2026-01-02", "From genai-prices", &|id, p| {
            p == "b" && id == "n"
        })
        .unwrap();
    assert!(
        toml.starts_with("# From genai-prices\nschema_version = 1\n"),
        "{toml}"
    );
    assert!(
        toml.contains("id = \"b/n\"") && !toml.contains("id = \"a/m\""),
        "{toml}"
    );
    assert_eq!(summary.skipped_entries.get("filtered out"), Some(&1));
}

#[test]
fn a_bad_date_or_a_file_that_is_not_a_provider_list_is_refused() {
    let ok = r#"[{"id": "a", "models": []}]"#;
    let run = |json: &str, date: &str| import_genai_prices(json, date, "", &|_, _| true);
    assert!(run(ok, "2026-01-02").is_ok());
    assert!(run(ok, "yesterday").is_err());
    assert!(run(r#"{"gpt-4o": {}}"#, "2026-01-02").is_err());
    assert!(run(r#"[{"models": []}]"#, "2026-01-02").is_err());
    assert!(run("[", "2026-01-02").is_err());
}
