//! Loads a module script on first use, once per page, and returns what it
//! publishes on `globalThis`: how the chart adapter and the lab's worker pool
//! reach the page, so pages that do not need them never fetch them.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// The global `global` that the module script at `url` sets, adding the
/// script (element id `id`, so concurrent callers add it once) unless it ran
/// already.
///
/// # Errors
/// A message when the script does not load or does not publish `global`;
/// the script element is removed then, so a later call tries again.
pub(crate) async fn load_module(url: &str, id: &str, global: &str) -> Result<JsValue, String> {
    let root = js_sys::global();
    let published = |g: &Object| Reflect::get(g, &global.into()).ok().filter(|m| !m.is_undefined());
    if let Some(value) = published(&root) {
        return Ok(value);
    }
    let document = leptos::prelude::document();
    let script: web_sys::HtmlScriptElement = match document.get_element_by_id(id) {
        Some(existing) => existing.unchecked_into(),
        None => {
            let script: web_sys::HtmlScriptElement =
                document.create_element("script").map_err(|_| "cannot create a script")?.unchecked_into();
            script.set_type("module");
            script.set_src(url);
            script.set_id(id);
            document.head().ok_or("the page has no head")?.append_child(&script).map_err(|_| "cannot add a script")?;
            script
        }
    };
    let loaded = Promise::new(&mut |resolve, reject| {
        // Once, so the listeners of callers that come later do not pile up.
        let once = web_sys::AddEventListenerOptions::new();
        once.set_once(true);
        let _ = script.add_event_listener_with_callback_and_add_event_listener_options("load", &resolve, &once);
        let _ = script.add_event_listener_with_callback_and_add_event_listener_options("error", &reject, &once);
    });
    // It may have finished between the check above and the listeners.
    if published(&root).is_none() {
        JsFuture::from(loaded).await.map_err(|_| {
            script.remove();
            format!("{url} did not load")
        })?;
    }
    published(&root).ok_or_else(|| format!("{url} did not publish {global}"))
}
