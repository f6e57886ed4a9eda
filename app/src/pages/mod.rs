//! The routed pages.

mod dashboard;
mod settings;
mod signals;
mod symbol;

pub(crate) use dashboard::Dashboard;
pub(crate) use settings::SettingsPage;
pub(crate) use signals::SignalsPage;
pub(crate) use symbol::SymbolPage;

use leptos::prelude::*;

/// The banner shown wherever simulated prices are on screen.
#[component]
fn SimulatedBanner() -> impl IntoView {
    view! {
        <p class="simulated-banner" data-testid="simulated-banner">
            "Simulated data: prices on this page come from Finstage's built-in market simulator, not from a real market."
        </p>
    }
}
