//! The wasm entry point: hydrates the server-rendered app. Nothing else lives here.

/// Called by the generated JS once the wasm module is loaded.
///
/// `hydrate_lazy` rather than `hydrate_body`: when a visit starts on a lazy
/// route, that route's wasm chunk must be loaded before its server-rendered
/// HTML can be hydrated, so hydration waits for it.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
