//! Schemas of the REST API's OpenAPI document that utoipa cannot derive from
//! the Rust types: the texts the handlers parse (symbols, timeframes, times,
//! strategy names; indicator specifications are in [`super::market`]), each
//! saying what its parser accepts, so that a client (or a generated one) can
//! tell a valid request from an invalid one without sending it. Every text a
//! schema admits is accepted; the parsers also forgive a little more
//! (surrounding spaces, lower case, `14.0` for `14`), which the schemas leave out.
//!
//! Patterns are ECMA-262 and written with explicit ASCII classes (`[0-9]`,
//! not `\d`, which other regex dialects read as any Unicode digit).

use quant::Timeframe;
use quant::backtest::RANK_METRICS;
use quant::strategies::NAME_LIST;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, KnownFormat, Object, ObjectBuilder, OneOfBuilder, SchemaFormat,
    Type,
};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::symbol::{MAX_SYMBOL_LEN, SYMBOL_PATTERN};

/// Declares marker types, each standing for a text in the document (as
/// `#[param(value_type = ..., inline)]`): utoipa's `schema_with` would drop the
/// parameter's description, `required` and `style`.
macro_rules! schemas {
    ($($(#[$doc:meta])* $name:ident => $schema:expr;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub(super) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {}
    )*};
}

schemas! {
    /// A ticker, as [`crate::symbol::Symbol::parse`] accepts it (case-insensitive).
    Ticker => ticker();
    /// An optional filter by ticker: a ticker, or empty for none.
    TickerFilter => {
        let pattern = SYMBOL_PATTERN.trim_start_matches('^').trim_end_matches('$');
        string().pattern(Some(format!("^(?:{pattern})?$"))).max_length(Some(MAX_SYMBOL_LEN)).examples(["AAPL"])
    };
    /// A timeframe (`1m`, `1d`, ...), or empty for the default.
    TimeframeName => string().enum_values(Some(Timeframe::ALL.iter().map(|tf| tf.as_str()).chain([""])));
    /// A time: Unix seconds, a date (`2024-01-31`) or an RFC 3339 date-time;
    /// empty for the default. (The server also reads `2024-01-31 12:00[:00]` as UTC.)
    Time => time_or([]);
    /// As [`Time`], or a page cursor `published_at:id` (a previous page's `next_before`).
    TimeOrCursor => time_or([string().pattern(Some("^-?[0-9]{1,18}:-?[0-9]{1,18}$")).build()]);
    /// A strategy of the catalog.
    StrategyName => string().enum_values(Some(NAME_LIST.iter().copied()));
    /// A metric a sweep ranks by.
    MetricName => string().enum_values(Some(RANK_METRICS.iter().copied())).default(Some("sharpe".into()));
    /// A sweep's grid: parameter names of the strategy to a list of values, or
    /// to a range `{"from", "to", "step"}` (the step defaults to the
    /// parameter's). Names and values are checked against the strategy's
    /// metadata (`GET /strategies`); at most 100000 combinations.
    GridSpec => grid();
}

/// The grid's schema: see [`GridSpec`].
fn grid() -> Schema {
    let value = OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(ObjectBuilder::new().schema_type(Type::Boolean))
        .item(string());
    let list = ArrayBuilder::new().items(value).min_items(Some(1)).max_items(Some(100_000));
    let number = || ObjectBuilder::new().schema_type(Type::Number);
    let range = ObjectBuilder::new()
        .property("from", number())
        .required("from")
        .property("to", number())
        .required("to")
        .property("step", number().exclusive_minimum(Some(0.0)))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    ObjectBuilder::new()
        .additional_properties(Some(AdditionalProperties::RefOr(OneOfBuilder::new().item(list).item(range).into())))
        .min_properties(Some(1))
        .examples([serde_json::json!({"fast": {"from": 5, "to": 50, "step": 5}, "slow": [20, 30, 40]})])
        .build()
        .into()
}

/// A string schema, to build on.
pub(super) fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn ticker() -> ObjectBuilder {
    string().pattern(Some(SYMBOL_PATTERN)).min_length(Some(1)).max_length(Some(MAX_SYMBOL_LEN)).examples(["AAPL"])
}

fn time_or<const N: usize>(more: [Object; N]) -> Schema {
    let seconds = string().pattern(Some("^-?[0-9]{1,18}$")).build();
    let date = string().format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))).build();
    let date_time = string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))).build();
    let empty = string().max_length(Some(0)).build();
    let mut any = AnyOfBuilder::new().item(seconds).item(date).item(date_time);
    for schema in more {
        any = any.item(schema);
    }
    any.item(empty).examples(["2024-01-31"]).build().into()
}
