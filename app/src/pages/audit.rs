//! `/audit` (admins): who changed what, when and from where, newest first,
//! a hundred entries at a time.

use leptos::prelude::*;

use crate::auth::{AuditEntry, audit_log};
use crate::components::format;

#[component]
pub(super) fn AuditPage() -> impl IntoView {
    let before = RwSignal::new(None::<i64>);
    let entries = Resource::new(move || before.get(), audit_log);
    view! {
        <h1>"Audit log"</h1>
        <p class="hint">"Every change made through the dashboard, the API or the command line. Times are UTC."</p>
        <Suspense fallback=|| view! { <p class="loading">"Loading the audit log…"</p> }>
            {move || Suspend::new(async move {
                match entries.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="empty">"Nothing recorded yet."</p> }.into_any(),
                    Ok(rows) => {
                        let oldest = rows.last().map(|r| r.id);
                        let full = rows.len() == 100;
                        view! {
                            <AuditTable rows/>
                            {(full && oldest.is_some()).then(|| view! {
                                <button type="button" on:click=move |_| before.set(oldest)>"Older entries"</button>
                            })}
                        }
                            .into_any()
                    }
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn AuditTable(rows: Vec<AuditEntry>) -> impl IntoView {
    view! {
        <div class="table-scroll">
            <table class="audit" data-testid="audit">
                <thead>
                    <tr><th>"When"</th><th>"Who"</th><th>"Via"</th><th>"What"</th><th>"On"</th><th>"Status"</th><th>"From"</th></tr>
                </thead>
                <tbody>
                    {rows
                        .into_iter()
                        .map(|r| {
                            view! {
                                <tr>
                                    <td class="time">{format::datetime(r.at / 1000)}</td>
                                    <td>{r.actor}</td>
                                    <td>{r.via}</td>
                                    <td><code>{r.action}</code></td>
                                    <td>{r.target.unwrap_or_default()}</td>
                                    <td>{r.status.map(|s| s.to_string()).unwrap_or_default()}</td>
                                    <td>{r.source.unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
