//! The lab form's fields: a label, the control and the error message that
//! names what is wrong with it, and the fields a strategy's parameter
//! metadata generates.

use leptos::prelude::*;
use quant::strategies::meta;
use serde_json::Value;

use super::FieldError;

/// A labelled field with its error message below it.
#[component]
pub(super) fn Field(
    label: &'static str,
    name: &'static str,
    error: impl Fn() -> Option<String> + Send + Sync + 'static,
    children: Children,
) -> impl IntoView {
    let id = format!("err-{name}");
    view! {
        <div class="field">
            <label for=format!("lab-{name}")>{label}</label>
            {children()}
            <span class="field-error" id=id role="alert">{error}</span>
        </div>
    }
}

fn field_error(errors: RwSignal<Vec<FieldError>>, name: String) -> impl Fn() -> Option<String> + Send + Sync + 'static {
    move || errors.with(|e| e.iter().find(|f| f.field == name).map(|f| f.message.clone()))
}

/// A number with its error.
#[component]
pub(super) fn NumberField(
    label: &'static str,
    name: &'static str,
    value: f64,
    step: &'static str,
    errors: RwSignal<Vec<FieldError>>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=format!("lab-{name}")>{label}</label>
            <input id=format!("lab-{name}") name=name type="number" step=step value=value.to_string()
                aria-describedby=format!("err-{name}")/>
            <span class="field-error" id=format!("err-{name}") role="alert">{field_error(errors, name.to_owned())}</span>
        </div>
    }
}

/// A level that may be off (empty).
#[component]
pub(super) fn OptionalField(
    label: &'static str,
    name: &'static str,
    value: Option<f64>,
    errors: RwSignal<Vec<FieldError>>,
) -> impl IntoView {
    view! {
        <div class="field">
            <label for=format!("lab-{name}")>{label}</label>
            <input id=format!("lab-{name}") name=name type="number" step="any" min="0" placeholder="off"
                value=value.map(|v| v.to_string()).unwrap_or_default() aria-describedby=format!("err-{name}")/>
            <span class="field-error" id=format!("err-{name}") role="alert">{field_error(errors, name.to_owned())}</span>
        </div>
    }
}

/// One strategy parameter, as its metadata describes it.
#[component]
pub(super) fn ParamField(param: meta::Param, value: Value, errors: RwSignal<Vec<FieldError>>) -> impl IntoView {
    let name = format!("p.{}", param.name);
    let id = format!("lab-p-{}", param.name);
    let err_id = format!("err-p-{}", param.name);
    let control = match param.kind {
        meta::Kind::Int { min, max, .. } => view! {
            <input id=id.clone() name=name.clone() type="number" min=min max=max step="1"
                value=value.to_string() aria-describedby=err_id.clone()/>
        }
        .into_any(),
        meta::Kind::Float { min, max, step, .. } => view! {
            <input id=id.clone() name=name.clone() type="number" min=min max=max step=step
                value=value.as_f64().map(|v| v.to_string()).unwrap_or_default() aria-describedby=err_id.clone()/>
        }
        .into_any(),
        meta::Kind::Bool { .. } => view! {
            <input id=id.clone() name=name.clone() type="checkbox" checked=value.as_bool().unwrap_or(false)/>
        }
        .into_any(),
        meta::Kind::Choice { options, .. } => {
            let chosen = value.as_str().unwrap_or_default().to_owned();
            view! {
                <select id=id.clone() name=name.clone()>
                    {options.iter().map(|o| view! { <option value=*o selected=*o == chosen>{*o}</option> }).collect_view()}
                </select>
            }
            .into_any()
        }
    };
    let range = match param.kind {
        meta::Kind::Int { min, max, .. } => format!(" ({min} to {max})"),
        meta::Kind::Float { min, max, .. } => format!(" ({min} to {max})"),
        _ => String::new(),
    };
    view! {
        <div class="field" data-param=param.name>
            <label for=id title=param.doc>{param.name}{range}</label>
            {control}
            <span class="field-error" id=err_id role="alert">{field_error(errors, name)}</span>
        </div>
    }
}
