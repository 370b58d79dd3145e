//! Draws the assistant's current step and reports where its controls are,
//! so that clicks can be mapped back to them.

use crate::catalogue::Msg;
use crate::wizard::{Control, FieldId, GatewayState, Hit, Step, Wizard};
use ui::widgets::{BODY, SMALL, TITLE};
use ui::{Rect, Ui};

/// Draws `w`; returns the clickable areas.
pub fn draw(w: &Wizard, ui: &mut Ui) -> Vec<(Rect, Hit)> {
    let t = ui.theme.clone();
    let mut hits = Vec::new();
    ui.clear();
    let content = ui.title_bar(w.t(Msg::Assistant), &w.step_text());
    let area = Rect::new(content.x + t.px(32), content.y + t.px(16), content.w - t.px(64), content.h - t.px(32));
    let (buttons, body) = area.split_bottom(t.px(40));
    ui.label(body.x, body.y, TITLE, true, t.text, w.title());
    let help = match w.step {
        Step::Language => Msg::LanguageHelp,
        Step::Keyboard => Msg::KeyboardHelp,
        Step::Timezone => Msg::TimezoneHelp,
        Step::DateTime => Msg::DateTimeHelp,
        Step::Licence => Msg::LicenceHelp,
        Step::Admin => Msg::AdminHelp,
        Step::Gateway => Msg::GatewayHelp,
        Step::Finish => Msg::FinishHelp,
    };
    let used = ui.paragraph(Rect::new(body.x, body.y + t.px(32), body.w, t.px(40)), BODY, t.muted, w.t(help));
    let mut y = body.y + t.px(32) + used.max(t.px(20)) + t.px(8);
    let focused = w.focused();
    let bottom = body.bottom() - t.px(8);

    let field = |ui: &mut Ui, y: &mut i32, id: FieldId, label: Msg, secret: bool, hits: &mut Vec<(Rect, Hit)>| {
        let f = w.field(id);
        let hint = w.field_hint(id);
        let r = ui.text_field(
            Rect::new(body.x, *y, body.w.min(t.px(520)), t.px(70)),
            w.t(label),
            &f.text,
            f.cursor,
            focused == Control::Field(id),
            secret,
            hint.as_ref().map(|(h, e)| (h.as_str(), *e)),
        );
        hits.push((r, Hit::Control(Control::Field(id))));
        *y = r.bottom() + t.px(24);
    };

    match w.step {
        Step::Language | Step::Licence => {
            list(w, ui, Rect::new(body.x, y, body.w.min(t.px(520)), bottom - y), &mut hits);
        }
        Step::Admin => {
            let rows = w.list_items().len() as i32;
            let list_h = t.px(30) * rows + t.px(6);
            list(w, ui, Rect::new(body.x, y, body.w.min(t.px(520)), list_h), &mut hits);
            y += list_h + t.px(16);
            if w.admin == 0 {
                field(ui, &mut y, FieldId::Password, Msg::AdminPassword, true, &mut hits);
                field(ui, &mut y, FieldId::Repeat, Msg::AdminRepeat, true, &mut hits);
            }
        }
        Step::Keyboard => {
            let list_h = (bottom - y - t.px(84)).max(t.px(60));
            list(w, ui, Rect::new(body.x, y, body.w.min(t.px(520)), list_h), &mut hits);
            y += list_h + t.px(12);
            field(ui, &mut y, FieldId::Try, Msg::KeyboardTry, false, &mut hits);
        }
        Step::Timezone => {
            field(ui, &mut y, FieldId::Filter, Msg::TimezoneFilter, false, &mut hits);
            y -= t.px(16);
            list(w, ui, Rect::new(body.x, y, body.w.min(t.px(520)), bottom - y), &mut hits);
        }
        Step::DateTime => {
            field(ui, &mut y, FieldId::Date, Msg::Date, false, &mut hits);
            field(ui, &mut y, FieldId::Time, Msg::Time, false, &mut hits);
        }
        Step::Gateway => {
            field(ui, &mut y, FieldId::Address, Msg::GatewayAddress, false, &mut hits);
            field(ui, &mut y, FieldId::Fingerprint, Msg::GatewayFingerprint, false, &mut hits);
            field(ui, &mut y, FieldId::Otp, Msg::GatewayOtp, true, &mut hits);
            if let Some(status) = w.gateway_status() {
                let color = match w.gateway {
                    GatewayState::Ready(_) => t.ok,
                    GatewayState::Failed(_) => t.error,
                    _ => t.muted,
                };
                ui.paragraph(Rect::new(body.x, y - t.px(12), body.w, bottom - y + t.px(12)), SMALL, color, &status);
            }
        }
        Step::Finish => {
            for (k, v) in w.summary() {
                let kw = ui.label(body.x, y, BODY, true, t.text, &format!("{k}:"));
                ui.label(body.x + kw.max(t.px(150)) + t.px(8), y, BODY, false, t.text, &v);
                y += t.px(28);
            }
        }
    }

    // Back, the reason Next is not allowed (or an error), Next.
    let bw = t.px(120);
    let bh = t.px(34);
    let by = buttons.y + (buttons.h - bh) / 2;
    if w.step != Step::Language {
        let r = ui.button(Rect::new(buttons.x, by, bw, bh), w.t(Msg::Back), focused == Control::Back, true, false);
        hits.push((r, Hit::Control(Control::Back)));
    }
    let blocker = w.next_blocker();
    let next = ui.button(
        Rect::new(buttons.right() - bw, by, bw, bh),
        w.next_label(),
        focused == Control::Next,
        blocker.is_none(),
        true,
    );
    hits.push((next, Hit::Control(Control::Next)));
    let note = w
        .error
        .clone()
        .map(|e| (e, true))
        .or(blocker.map(|b| (b, w.step != Step::Gateway || w.gateway != GatewayState::Checking)));
    if let Some((text, is_error)) = note {
        let x = buttons.x + bw + t.px(16);
        let r = Rect::new(x, buttons.y, next.x - x - t.px(16), buttons.h);
        ui.paragraph(Rect::new(r.x, r.y + t.px(4), r.w, r.h), SMALL, if is_error { t.error } else { t.muted }, &text);
    }
    hits
}

fn list(w: &Wizard, ui: &mut Ui, r: Rect, hits: &mut Vec<(Rect, Hit)>) {
    let rows = ui.list(r, &w.list_items(), w.list_selected(), w.focused() == Control::List);
    hits.extend(rows.into_iter().map(|(i, r)| (r, Hit::Row(i))));
}

/// What was clicked at (x, y).
pub fn hit_at(hits: &[(Rect, Hit)], x: i32, y: i32) -> Option<Hit> {
    hits.iter().rev().find(|(r, _)| r.contains(x, y)).map(|(_, h)| *h)
}

/// The first frame, drawn while init loads the drivers and mounts DATA
/// (before the language is known, so it has no words): the title bar and
/// the firmware version.
pub fn starting(ui: &mut Ui, version: &str) {
    let t = ui.theme.clone();
    ui.clear();
    let rest = ui.title_bar("Quill", version);
    let (_, lower) = rest.split_top(rest.h / 2 - t.px(40));
    let (title, _) = lower.split_top(t.px(40));
    ui.label_in(title, TITLE, true, t.text, "Quill", true);
}
