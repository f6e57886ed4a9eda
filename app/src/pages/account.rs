//! The way in: `/login` and the first start's `/setup`. Both are plain
//! forms posted to `/api/v1/auth/*`, so they work before (and without) the
//! wasm; a refused attempt comes back to the page with the reason, shown
//! under the form.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// `/login?next=PATH&error=MESSAGE`.
#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_else(|| "/".into());
    let error = move || query.read().get("error");
    view! {
        <section class="account">
            <h1>"Log in"</h1>
            <form method="post" action="/api/v1/auth/login" class="account-form" data-testid="login-form">
                <input type="hidden" name="next" value=next/>
                <label>
                    "User name"
                    <input name="username" autocomplete="username" required autofocus/>
                </label>
                <label>
                    "Password"
                    <input name="password" type="password" autocomplete="current-password" required/>
                </label>
                {move || error().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit">"Log in"</button>
            </form>
        </section>
    }
}

/// `/setup?token=TOKEN`: creates the first admin with the link `serve` printed.
#[component]
pub fn Setup() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let username = move || query.read().get("username").unwrap_or_default();
    let error = move || query.read().get("error");
    view! {
        <section class="account">
            <h1>"Create the first admin"</h1>
            <p class="hint">
                "This account manages users, the Telegram bot and settings. The link works once."
            </p>
            <form method="post" action="/api/v1/auth/setup" class="account-form" data-testid="setup-form">
                <input type="hidden" name="token" value=token/>
                <label>
                    "User name"
                    <input name="username" autocomplete="username" required autofocus value=username/>
                </label>
                <label>
                    "Password (at least 8 characters)"
                    <input name="password" type="password" autocomplete="new-password" minlength="8" required/>
                </label>
                <label>
                    "Password again"
                    <input name="confirm" type="password" autocomplete="new-password" minlength="8" required/>
                </label>
                {move || error().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit">"Create admin"</button>
            </form>
        </section>
    }
}
