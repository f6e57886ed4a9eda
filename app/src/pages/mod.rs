//! The routed pages.

mod account;
mod audit;
mod dashboard;
mod lab;
mod settings;
mod signals;
mod symbol;

pub(crate) use account::{Login, Setup};
pub(crate) use dashboard::Dashboard;

use leptos::prelude::*;
use leptos_router::{LazyRoute, lazy_route};

// Every page but the watchlist is a lazy route: built with `cargo leptos
// build --split`, its code (and whatever only it uses: the chart, forms, the
// signals table) is cut out of the main wasm into a chunk of its own, fetched
// the first time the page is shown, or before hydration when a visit starts
// there. The watchlist, where a visit usually starts, stays in the main
// bundle. Each route has no data of its own to start early: its resources
// live in its component, whose server functions answer from memory.

/// `/symbol/{symbol}`, lazily loaded.
pub(crate) struct SymbolRoute;

#[lazy_route]
impl LazyRoute for SymbolRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let SymbolRoute = this;
        view! { <symbol::SymbolPage/> }.into_any()
    }
}

/// `/signals`, lazily loaded.
pub(crate) struct SignalsRoute;

#[lazy_route]
impl LazyRoute for SignalsRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let SignalsRoute = this;
        view! { <signals::SignalsPage/> }.into_any()
    }
}

/// `/lab`, lazily loaded: the backtest lab.
pub(crate) struct LabRoute;

#[lazy_route]
impl LazyRoute for LabRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let LabRoute = this;
        view! { <lab::LabPage/> }.into_any()
    }
}

/// `/settings`, lazily loaded.
pub(crate) struct SettingsRoute;

#[lazy_route]
impl LazyRoute for SettingsRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let SettingsRoute = this;
        view! { <settings::SettingsPage/> }.into_any()
    }
}

/// `/audit`, lazily loaded: the audit log (admins).
pub(crate) struct AuditRoute;

#[lazy_route]
impl LazyRoute for AuditRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let AuditRoute = this;
        view! { <audit::AuditPage/> }.into_any()
    }
}

/// The banner shown wherever simulated prices are on screen.
#[component]
fn SimulatedBanner() -> impl IntoView {
    view! {
        <p class="simulated-banner" data-testid="simulated-banner">
            "Simulated data: prices on this page come from Finstage's built-in market simulator, not from a real market."
        </p>
    }
}
