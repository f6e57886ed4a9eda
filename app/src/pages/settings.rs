//! `/settings`: the Telegram chats (linking, subscriptions, quiet hours, mute),
//! which strategies run live, and the minimum backtest quality below which
//! their signals are stored but not sent (to the live feed and to Telegram).

use leptos::prelude::*;
use quant::strategies::NAME_LIST;

use crate::api::{ChangeChat, NewLinkCode, SetStrategy, get_strategies, get_telegram};
use crate::model::{ChatSettings, StrategyRow};

/// The settings page.
#[component]
pub(super) fn SettingsPage() -> impl IntoView {
    let strategies = Resource::new(|| (), |()| get_strategies());
    // Viewers see the settings; traders and admins change them (and link
    // their own Telegram chats). The server checks regardless.
    let editable = crate::auth::viewer_can(crate::auth::Role::Trader);
    view! {
        <h1>"Settings"</h1>
        <Show when=editable>
            <Telegram/>
        </Show>
        <h2>"Strategies and minimum backtest quality"</h2>
        <p class="hint">
            "A signal is sent only when its strategy's backtest on that symbol meets every minimum set here. "
            "Leave a field blank for no minimum. Win rate is a fraction (0.55 = 55%)."
        </p>
        <Suspense fallback=|| view! { <p class="loading">"Loading strategies…"</p> }>
            {move || Suspend::new(async move {
                match strategies.await {
                    Ok(rows) => view! { <StrategyTable rows/> }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn StrategyTable(rows: Vec<StrategyRow>) -> impl IntoView {
    view! {
        <table class="strategies" data-testid="strategies">
            <thead>
                <tr>
                    <th>"Strategy"</th>
                    <th>"Runs"</th>
                    <th>"Min trades"</th>
                    <th>"Min win rate"</th>
                    <th>"Min profit factor"</th>
                    <th>"Min Sharpe"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>{rows.into_iter().map(|row| view! { <StrategyForm row/> }).collect_view()}</tbody>
        </table>
    }
}

/// One strategy's row: a form of its own, saved with a server action.
#[component]
fn StrategyForm(row: StrategyRow) -> impl IntoView {
    let save = ServerAction::<SetStrategy>::new();
    let text = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let status = move || match save.value().get() {
        Some(Ok(_)) => view! { <span class="saved" data-testid="saved">"saved"</span> }.into_any(),
        Some(Err(e)) => view! { <span class="error" data-testid="save-error">{e.to_string()}</span> }.into_any(),
        None => ().into_any(),
    };
    // Each row's inputs belong to the row's form through the `form` attribute,
    // so the table stays a table.
    let form_id = format!("strategy-{}", row.name);
    let name = row.name.clone();
    view! {
        <tr data-strategy=row.name.clone() title=row.summary.clone()>
            <td class="strategy">
                {row.name.clone()}
                " "
                <a class="lab-link" href=format!("/lab?strategy={}", row.name) title="Try it in the backtest lab">"lab"</a>
                <ActionForm action=save attr:id=form_id.clone()>
                    <input type="hidden" name="name" value=name/>
                </ActionForm>
            </td>
            <td><input type="checkbox" name="enabled" value="on" checked=row.enabled form=form_id.clone()/></td>
            <td><input name="min_trades" size="5" value=row.min_trades.map(|n| n.to_string()).unwrap_or_default() form=form_id.clone()/></td>
            <td><input name="min_win_rate" size="5" value=text(row.min_win_rate) form=form_id.clone()/></td>
            <td><input name="min_profit_factor" size="5" value=text(row.min_profit_factor) form=form_id.clone()/></td>
            <td><input name="min_sharpe" size="5" value=text(row.min_sharpe) form=form_id.clone()/></td>
            <td>
                <Show when=crate::auth::viewer_can(crate::auth::Role::Trader)>
                    <button type="submit" form=form_id.clone()>"Save"</button>
                </Show>
                " "
                {status}
            </td>
        </tr>
    }
}

/// The Telegram section: every form posts one change and the list reloads.
#[component]
fn Telegram() -> impl IntoView {
    let change = ServerAction::<ChangeChat>::new();
    let code = ServerAction::<NewLinkCode>::new();
    let chats = Resource::new(move || change.version().get(), |_| get_telegram());
    let problem = move || match change.value().get() {
        Some(Err(e)) => view! { <p class="error" data-testid="telegram-error">{e.to_string()}</p> }.into_any(),
        _ => ().into_any(),
    };
    view! {
        <h2>"Telegram"</h2>
        <p class="hint">
            "Link a chat: get a code and send " <code>"/start CODE"</code> " to the bot within 15 minutes "
            "(or run " <code>"finstage telegram link"</code> "), or link a chat id you know."
        </p>
        <div class="filters">
            <ActionForm action=code>
                <button type="submit" data-testid="new-code">"New link code"</button>
            </ActionForm>
            {move || match code.value().get() {
                Some(Ok(c)) => view! { <code data-testid="link-code">{format!("/start {c}")}</code> }.into_any(),
                Some(Err(e)) => view! { <span class="error">{e.to_string()}</span> }.into_any(),
                None => ().into_any(),
            }}
            <ActionForm action=change>
                <input type="hidden" name="op" value="link"/>
                <label>"Chat id " <input name="chat_id" size="14" data-testid="link-chat-id"/></label>
                " "
                <button type="submit">"Link chat"</button>
            </ActionForm>
        </div>
        {problem}
        <Suspense fallback=|| view! { <p class="loading">"Loading chats…"</p> }>
            {move || Suspend::new(async move {
                match chats.await {
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No linked chats."</p> }.into_any(),
                    Ok(list) => list.into_iter().map(|chat| view! { <ChatPanel chat change/> }).collect_view().into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ChatPanel(chat: ChatSettings, change: ServerAction<ChangeChat>) -> impl IntoView {
    let id = chat.chat_id.to_string();
    let label = chat.title.clone().map_or_else(|| format!("chat {id}"), |t| format!("{t} ({id})"));
    let (mute_op, mute_label) = if chat.muted { ("unmute", "Unmute") } else { ("mute", "Mute") };
    let (mute_fields, quiet_fields, unlink_fields, subscribe_fields) = (
        hidden(id.clone(), mute_op),
        hidden(id.clone(), "quiet"),
        hidden(id.clone(), "unlink"),
        hidden(id.clone(), "subscribe"),
    );
    view! {
        <section class="chat" data-chat=id.clone()>
            <h3>{label} {chat.muted.then_some(" · muted")}</h3>
            <div class="filters">
                <ActionForm action=change>
                    {mute_fields}
                    <button type="submit">{mute_label}</button>
                </ActionForm>
                <ActionForm action=change>
                    {quiet_fields}
                    <label>"Quiet hours (UTC) " <input name="value" size="12" placeholder="22:00-07:00" value=chat.quiet.clone().unwrap_or_default()/></label>
                    " "
                    <button type="submit">"Save"</button>
                </ActionForm>
                <ActionForm action=change>
                    {unlink_fields}
                    <button type="submit">"Unlink"</button>
                </ActionForm>
            </div>
            <table class="strategies" data-testid="subscriptions">
                <thead><tr><th>"Symbol"</th><th>"Strategy"</th><th></th></tr></thead>
                <tbody>
                    {chat
                        .subscriptions
                        .into_iter()
                        .map(|(symbol, strategy)| {
                            let shown = strategy.clone().unwrap_or_else(|| "any".to_owned());
                            let fields = hidden(id.clone(), "unsubscribe");
                            let (cell, key) = (symbol.clone(), symbol.clone());
                            view! {
                                <tr data-testid="subscription" data-symbol=key>
                                    <td>{cell}</td>
                                    <td>{shown}</td>
                                    <td>
                                        <ActionForm action=change>
                                            {fields}
                                            <input type="hidden" name="symbol" value=symbol/>
                                            <input type="hidden" name="strategy" value=strategy.unwrap_or_default()/>
                                            <button type="submit">"Remove"</button>
                                        </ActionForm>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
            <ActionForm action=change>
                {subscribe_fields}
                <div class="filters">
                    <label>"Symbol " <input name="symbol" size="10" data-testid="subscribe-symbol"/></label>
                    <label>
                        "Strategy "
                        <select name="strategy">
                            <option value="">"any"</option>
                            {NAME_LIST.iter().map(|&name| view! { <option value=name>{name}</option> }).collect_view()}
                        </select>
                    </label>
                    <button type="submit" data-testid="subscribe">"Subscribe"</button>
                </div>
            </ActionForm>
        </section>
    }
}

/// The hidden fields naming a chat and an operation.
fn hidden(chat_id: String, op: &'static str) -> impl IntoView {
    view! {
        <input type="hidden" name="chat_id" value=chat_id/>
        <input type="hidden" name="op" value=op/>
    }
}
