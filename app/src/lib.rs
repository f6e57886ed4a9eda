//! Finstage's Leptos app: the dashboard's routes, components and server functions.
//!
//! The crate is compiled twice. With feature `ssr` it lives inside the server,
//! renders pages to HTML and runs the server functions; with feature `hydrate` it
//! lives inside the wasm bundle, takes over the server-rendered page and keeps it
//! live over the `/ws` feed.
//!
//! Layout:
//! - [`model`]: the data the pages show (quotes, charts), shared by both sides.
//! - [`api`]: server functions and, under `ssr`, the [`api::ssr::Backend`] port the
//!   server implements to answer them.
//! - [`lab_api`]: the backtest lab's server functions (saved runs, "check on the
//!   server"), used only by the lab page so that they load with its chunk.
//! - [`live`]: the WebSocket protocol and, in the browser, the reconnecting client.
//! - `pages` and `components`: the views.

// Leptos views are nested generic types; the lab page's form nests deeper than the
// compiler's default query depth when its lazy route is laid out for hydration.
#![recursion_limit = "256"]

pub mod api;
pub mod auth;
pub mod lab_api;
pub mod live;
pub mod model;

mod components;
mod pages;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::{Lazy, ParamSegment, SsrMode, StaticSegment};

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                // Who the page is for: read back by the browser's App (auth::PageViewer).
                <meta name=auth::META content=auth::PageViewer::detect().0.map(|p| p.to_meta()).unwrap_or_default()/>
                // The stylesheet's name carries its content hash in release builds.
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The root component: stylesheet, navigation and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Who is looking: settled once per page load (on the server from the
    // request, in the browser from the page's <meta>).
    let viewer = auth::PageViewer::detect();
    let user = viewer.0.clone().filter(|p| p.user_id.is_some());
    provide_context(viewer);

    view! {
        <Title text="Finstage"/>
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"Finstage"</A>
                <span class="tagline">"market data and trading signals"</span>
                <nav class="mainnav">
                    <A href="/">"Watchlist"</A>
                    <A href="/signals">"Signals"</A>
                    <A href="/lab">"Lab"</A>
                    <A href="/settings">"Settings"</A>
                    <Show when=auth::viewer_can(auth::Role::Admin)>
                        <A href="/audit">"Audit"</A>
                    </Show>
                </nav>
                {user
                    .map(|p| {
                        view! {
                            <form method="post" action="/api/v1/auth/logout" class="usermenu">
                                <span class="user" data-testid="user">
                                    {p.name}
                                    <span class="role">{p.role.as_str()}</span>
                                </span>
                                <button type="submit" data-testid="logout">"Log out"</button>
                            </form>
                        }
                    })}
            </header>
            <main>
                // Every page's data comes from in-memory caches in well under a
                // millisecond, so each page is rendered whole and sent in one
                // piece (`Async`) rather than streamed: fewer writes, fewer
                // packets and no inline scripts patching fallbacks.
                <Routes fallback=|| view! { <p class="error">"Page not found."</p> }>
                    <Route path=StaticSegment("") view=pages::Dashboard ssr=SsrMode::Async/>
                    <Route path=StaticSegment("login") view=pages::Login ssr=SsrMode::Async/>
                    <Route path=StaticSegment("setup") view=pages::Setup ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("symbol"), ParamSegment("symbol"))
                        view={Lazy::<pages::SymbolRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("signals")
                        view={Lazy::<pages::SignalsRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("lab")
                        view={Lazy::<pages::LabRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("audit")
                        view={Lazy::<pages::AuditRoute>::new()}
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=StaticSegment("settings")
                        view={Lazy::<pages::SettingsRoute>::new()}
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}
