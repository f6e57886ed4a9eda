//! Lab runs saved by name ([`crate::storage::lab_runs`]): what is checked
//! before one is stored, shared by `/api/v1/lab/runs` and the lab page's
//! server functions.

use serde_json::{Map, Value};

use super::LabError;
use super::input::{LabInput, object};
use crate::storage::lab_runs::{self, LabRunRow, NewLabRun};
use crate::storage::{Db, StorageError};

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The most equity values a saved run keeps (a sample of the curve).
pub const MAX_EQUITY_POINTS: usize = 10_000;
/// The most runs one list returns.
pub const MAX_LIST: usize = 1_000;

/// A run to save, as given.
#[derive(Debug, Clone)]
pub struct ToSave {
    /// 1 to [`MAX_NAME_CHARS`] characters, no control characters (trimmed).
    pub name: String,
    /// The flat input; checked by resolving its settings.
    pub input: Value,
    /// Its metrics: an object, or absent.
    pub metrics: Option<Value>,
    /// A sample of its equity curve: up to [`MAX_EQUITY_POINTS`] finite numbers, or absent.
    pub equity: Option<Value>,
}

fn invalid(message: impl Into<String>) -> LabError {
    LabError::Invalid(message.into())
}

/// Checks `run` and stores it.
///
/// # Errors
/// [`LabError::Invalid`] naming the field (`name`, `input...`, `metrics`,
/// `equity`), [`LabError::Storage`] when the database fails.
pub async fn save(db: &Db, run: ToSave, user_id: Option<i64>, now_ms: i64) -> Result<LabRunRow, LabError> {
    let name = run.name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(invalid(format!("name must be 1 to {MAX_NAME_CHARS} characters, got {chars}")));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("name must not contain control characters"));
    }
    let input = object(run.input, "input")?;
    let (checked, _) = LabInput::parse(input.clone(), &[]).map_err(|e| invalid(format!("input: {e}")))?;
    let metrics = match run.metrics {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(Value::Object(m).to_string()),
        Some(_) => return Err(invalid("metrics must be a JSON object")),
    };
    let equity = match run.equity {
        None | Some(Value::Null) => None,
        Some(Value::Array(values)) => {
            if values.len() > MAX_EQUITY_POINTS {
                return Err(invalid(format!("equity: at most {MAX_EQUITY_POINTS} values, got {}", values.len())));
            }
            if values.iter().any(|v| v.as_f64().is_none_or(|x| !x.is_finite())) {
                return Err(invalid("equity must hold numbers only"));
            }
            Some(Value::Array(values).to_string())
        }
        Some(_) => return Err(invalid("equity must be an array of numbers")),
    };
    let input_text = Value::Object(input).to_string();
    let row = NewLabRun {
        name,
        symbol: checked.data.symbol.as_str(),
        timeframe: checked.data.timeframe.as_str(),
        strategy: checked.resolved.entry.name,
        input: &input_text,
        metrics: metrics.as_deref(),
        equity: equity.as_deref(),
    };
    Ok(lab_runs::insert(db, &row, user_id, now_ms).await?)
}

/// Saved runs, newest first.
///
/// # Errors
/// [`LabError::Invalid`] for a limit outside 1 to [`MAX_LIST`], [`LabError::Storage`].
pub async fn list(db: &Db, owner: app::auth::Owner, limit: usize) -> Result<Vec<LabRunRow>, LabError> {
    if limit == 0 || limit > MAX_LIST {
        return Err(invalid(format!("limit must be between 1 and {MAX_LIST}, got {limit}")));
    }
    Ok(lab_runs::list(db, owner, limit).await?)
}

/// A stored JSON text as a value (`Null` for one that does not parse, which
/// only a hand-edited row could hold).
#[must_use]
pub fn json_of(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null)
}

/// The stored input as an object.
///
/// # Errors
/// [`StorageError::Corrupt`] when the stored text is not a JSON object.
pub fn input_of(row: &LabRunRow) -> Result<Map<String, Value>, StorageError> {
    match serde_json::from_str(&row.input) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StorageError::Corrupt(format!("lab run {}: input is not a JSON object", row.id))),
    }
}
