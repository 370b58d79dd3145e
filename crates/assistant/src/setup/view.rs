//! Draws the local Setup and reports where its controls are.

use super::{rows, Focus, Setup, SetupHit};
use crate::catalogue::{fill, Msg};
use localsetup::{info, tr, Kind, Node, TREE};
use ui::widgets::{BODY, SMALL};
use ui::{Rect, Ui};

fn title(s: &Setup, n: Node) -> String {
    let l = s.llang();
    match n {
        Node::Root => s.t(Msg::SetupTitle).into(),
        Node::Area(a) => tr(&TREE[a].title, l).into(),
        Node::Page(a, p) => tr(&TREE[a].pages[p].title, l).into(),
    }
}

/// Draws `s`; returns the clickable areas.
pub fn draw(s: &Setup, ui: &mut Ui) -> Vec<(Rect, SetupHit)> {
    let t = ui.theme.clone();
    let mut hits = Vec::new();
    ui.clear();
    let here = s.nav.current();
    let crumbs = match here {
        Node::Page(a, _) => format!("{} › {}", title(s, Node::Area(a)), title(s, here)),
        n => title(s, n),
    };
    let content = ui.title_bar(s.t(Msg::SetupTitle), &crumbs);
    let area = content.inset(t.px(12));
    let (top, rest) = area.split_top(t.px(58));
    let (bottom, middle) = rest.split_bottom(t.px(44));

    // Back, Forward, Up; the search.
    let bw = t.px(96);
    let by = top.y + t.px(18);
    for (i, (focus, msg)) in
        [(Focus::Back, Msg::SetupBack), (Focus::Forward, Msg::SetupForward), (Focus::Up, Msg::SetupUp)]
            .into_iter()
            .enumerate()
    {
        let r = Rect::new(top.x + i as i32 * (bw + t.px(8)), by, bw, t.px(32));
        hits.push((ui.button(r, s.t(msg), s.focus == focus, true, false), SetupHit::Focus(focus)));
    }
    let sx = top.x + 3 * (bw + t.px(8)) + t.px(8);
    let sr = Rect::new(sx, top.y, top.right() - sx, t.px(52));
    let r = ui.text_field(
        sr,
        s.t(Msg::SetupSearch),
        &s.search.text,
        s.search.cursor,
        s.focus == Focus::Search,
        false,
        None,
    );
    hits.push((r, SetupHit::Focus(Focus::Search)));

    // The tree.
    let tree_w = (middle.w * 36 / 100).min(t.px(300));
    let tree = Rect::new(middle.x, middle.y + t.px(6), tree_w, middle.h - t.px(12));
    let all = rows();
    let items: Vec<String> = all
        .iter()
        .map(|n| match n {
            Node::Page(..) => format!("    {}", title(s, *n)),
            _ => title(s, *n),
        })
        .collect();
    let selected = all.iter().position(|n| *n == here);
    for (i, r) in ui.list(tree, &items, selected, s.focus == Focus::Tree) {
        hits.push((r, SetupHit::Row(i)));
    }

    // The page, or the search's hits.
    let px = tree.right() + t.px(20);
    let pane = Rect::new(px, middle.y + t.px(6), middle.right() - px, middle.h - t.px(12));
    if !s.search.text.is_empty() {
        if s.hits.is_empty() {
            ui.paragraph(pane, BODY, t.muted, s.t(Msg::SetupNoHits));
        } else {
            ui.label(pane.x, pane.y, BODY, true, t.text, &fill(s.t(Msg::SetupHits), &[&s.hits.len().to_string()]));
            let items: Vec<String> = s
                .hits
                .iter()
                .map(|h| {
                    let page = &TREE[h.page.0].pages[h.page.1];
                    format!("{} ({}): {}", tr(&info(h.field).label, s.llang()), tr(&page.title, s.llang()), h.matched)
                })
                .collect();
            let list = Rect::new(pane.x, pane.y + t.px(28), pane.w, pane.h - t.px(28));
            for (i, r) in ui.list(list, &items, Some(s.hit), s.focus == Focus::Search) {
                hits.push((r, SetupHit::Found(i)));
            }
        }
    } else if let Node::Page(..) = here {
        // The page's title is in the title bar (area › page).
        let mut y = pane.y;
        let problems = s.draft.check();
        // A page with more fields than fit scrolls to keep the focused one
        // in view.
        let row = t.px(70);
        let fit = ((pane.h / row) as usize).max(1);
        let focused = match s.focus {
            Focus::Field(i) => i,
            _ => s.marked.and_then(|m| s.fields().iter().position(|f| *f == m)).unwrap_or(0),
        };
        let first = (focused + 1).saturating_sub(fit);
        let shown = first..(first + fit).min(s.fields().len());
        if first > 0 {
            ui.label(pane.right() - t.px(24), pane.y, BODY, true, t.muted, "▲");
        }
        if shown.end < s.fields().len() {
            ui.label(pane.right() - t.px(24), pane.y + row * fit as i32 - t.px(24), BODY, true, t.muted, "▼");
        }
        for (i, f) in s.fields().iter().enumerate() {
            if !shown.contains(&i) {
                continue;
            }
            let fi = info(*f);
            let choice = matches!(fi.kind, Kind::Choice(_) | Kind::Toggle);
            let secret = fi.kind == Kind::Secret;
            let (value, cursor) = if choice {
                let v = s.draft.shown(*f, s.llang());
                let n = v.chars().count();
                (format!("‹ {v} ›"), n + 4)
            } else {
                (s.edits[i].text.clone(), s.edits[i].cursor)
            };
            let reason = problems.iter().find(|(g, _)| g == f).map(|(_, why)| why.clone());
            let hint = match &reason {
                Some(why) => (why.as_str(), true),
                None => (tr(&fi.help, s.llang()), false),
            };
            let box_r = Rect::new(pane.x, y, (pane.w - t.px(30)).min(t.px(520)), t.px(66));
            if s.marked == Some(*f) {
                ui.canvas.fill(box_r.inset(-t.px(4)), t.selection);
            }
            let focused = s.focus == Focus::Field(i);
            let label = tr(&fi.label, s.llang());
            let r = ui.text_field(box_r, label, &value, cursor, focused && !choice, secret, Some(hint));
            if focused && choice {
                ui.canvas.frame(r, t.px(2), t.accent);
            }
            hits.push((r, SetupHit::Focus(Focus::Field(i))));
            y += t.px(70);
        }
        if let Node::Page(a, p) = here {
            if let Some(note) = &TREE[a].pages[p].note {
                let r = Rect::new(pane.x, y, pane.w, t.px(48));
                ui.paragraph(r, SMALL, t.text, tr(note, s.llang()));
                y += t.px(56);
            }
            if let Some(what) = TREE[a].pages[p].info {
                for line in s.info.get(&what).into_iter().flatten() {
                    ui.label(pane.x, y, SMALL, false, t.text, line);
                    y += t.px(20);
                }
                y += t.px(12);
            }
        }
        for (i, a) in s.actions().iter().enumerate() {
            let r = Rect::new(pane.x, y, pane.w.min(t.px(360)), t.px(34));
            let r = ui.button(r, tr(&a.label(), s.llang()), s.focus == Focus::Action(i), true, false);
            hits.push((r, SetupHit::Focus(Focus::Action(i))));
            y += t.px(44);
        }
    } else {
        ui.label(pane.x, pane.y, BODY, true, t.text, &title(s, here));
        ui.paragraph(Rect::new(pane.x, pane.y + t.px(30), pane.w, t.px(60)), BODY, t.muted, s.t(Msg::SetupChoose));
    }

    // The message; Apply and Close.
    let bw = t.px(120);
    let bh = t.px(34);
    let by = bottom.y + (bottom.h - bh) / 2;
    let close = Rect::new(bottom.right() - bw, by, bw, bh);
    let apply = Rect::new(close.x - bw - t.px(12), by, bw, bh);
    hits.push((
        ui.button(apply, s.t(Msg::SetupApply), s.focus == Focus::Apply, true, true),
        SetupHit::Focus(Focus::Apply),
    ));
    hits.push((
        ui.button(close, s.t(Msg::SetupClose), s.focus == Focus::Close, true, false),
        SetupHit::Focus(Focus::Close),
    ));
    if let Some((text, is_error)) = &s.message {
        let r = Rect::new(bottom.x, bottom.y, apply.x - bottom.x - t.px(12), bottom.h);
        ui.paragraph(r, SMALL, if *is_error { t.error } else { t.ok }, text);
    }
    // A new resolution: keep it, or it goes back by itself.
    if let Some((_, deadline)) = &s.keep {
        let left = deadline.saturating_duration_since(std::time::Instant::now()).as_secs_f32().ceil() as u64;
        let body = fill(s.t(Msg::SetupKeepText), &[&left.to_string()]);
        let boxes = ui.message_box(
            s.t(Msg::SetupKeepTitle),
            &body,
            &[s.t(Msg::SetupKeep), s.t(Msg::SetupGoBack)],
            s.keep_choice,
        );
        hits.clear();
        hits.extend(boxes.into_iter().enumerate().map(|(i, r)| (r, SetupHit::Keep(i))));
    }
    // An action that asks first (No is chosen at first).
    if let Some((action, choice)) = &s.confirm {
        let question = action.confirm().map_or("", |q| tr(&q, s.llang()));
        let boxes = ui.message_box(tr(&action.label(), s.llang()), question, &[s.t(Msg::Yes), s.t(Msg::No)], *choice);
        hits.clear();
        hits.extend(boxes.into_iter().enumerate().map(|(i, r)| (r, SetupHit::Confirm(i))));
    }
    hits
}
