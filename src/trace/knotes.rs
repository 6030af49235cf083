//! The knote table as the trace shows it (contract: the `knotes` record; opening 2 of the
//! teaching notes): one [`KnoteRow`] per (ident, filter) with its mode and its state.
//!
//! kqueue has no call that lists knotes, so the lab follows the rules instead. The table is told
//! what happened and moves as kqueue would:
//! - every change a kevent call applied ([`KnoteTable::apply`], B2–B6);
//! - every event it delivered ([`KnoteTable::deliver`]: ONESHOT deletes, B15; DISPATCH
//!   disables, B16);
//! - every descriptor closed ([`KnoteTable::close`]: close() removes its knotes, B22).
//!
//! The traced kqueue (`trace::traced`) keeps one for the flag stages and for the server. The
//! server's knotes are level-triggered sockets and EV_CLEAR user knotes, so a delivery never
//! moves them; the stages close their sockets after an EV_DELETE, so they never need `close`.

use crate::kq::{self, Kevent};
use crate::trace::{KnoteRow, KnoteState, Role};

/// What a delivery did to its knote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Level-triggered: nothing changes, it fires again on the next call while the condition
    /// holds (B12).
    Level,
    /// EV_ONESHOT: deleted at delivery (B15).
    Deleted,
    /// EV_DISPATCH: disabled at delivery (B16).
    Disabled,
    /// EV_CLEAR: its state reset at delivery (B14).
    Reset,
}

#[derive(Debug, Default)]
pub struct KnoteTable {
    rows: Vec<KnoteRow>,
}

impl KnoteTable {
    pub fn rows(&self) -> &[KnoteRow] {
        &self.rows
    }

    /// The row of the knote (ident, filter) that was not deleted (B1: that pair is its identity).
    fn live(&self, ident: usize, filter: &str) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| r.ident == ident && r.filter == filter && r.state != KnoteState::Deleted)
    }

    /// True when (ident, filter) has a knote that was not deleted.
    pub fn is_live(&self, ident: usize, filter: i16) -> bool {
        self.live(ident, &kq::filter_name(filter)).is_some()
    }

    /// Apply one change that kevent accepted. `label` names the ident for a new row.
    pub fn apply(&mut self, change: &Kevent, label: &Role) {
        let filter = kq::filter_name(change.filter);
        let live = self.live(change.ident, &filter);
        if change.flags & kq::EV_DELETE != 0 {
            if let Some(i) = live {
                self.rows[i].state = KnoteState::Deleted; // B6
            }
            return;
        }
        match live {
            None if change.flags & kq::EV_ADD != 0 => {
                // The ident is reused: the deleted knotes of its old owner leave the table
                // (contract: listed as deleted until the ident is reused). USER idents are
                // plain numbers, not descriptors: they never reuse a socket's ident (B1).
                self.rows.retain(|r| {
                    !(r.ident == change.ident
                        && r.filter != "USER"
                        && filter != "USER"
                        && r.state == KnoteState::Deleted)
                });
                let mode = [
                    (kq::EV_ONESHOT, "ONESHOT"),
                    (kq::EV_DISPATCH, "DISPATCH"),
                    (kq::EV_CLEAR, "CLEAR"),
                ]
                .iter()
                .filter(|(bit, _)| change.flags & bit != 0)
                .map(|(_, name)| name.to_string())
                .collect();
                // EV_ADD|EV_DISABLE registers the knote disabled (B5): the server's WRITE
                // knote of a client in read mode.
                let state = if change.flags & kq::EV_DISABLE != 0 {
                    KnoteState::Disabled
                } else {
                    KnoteState::Enabled
                };
                self.rows.push(KnoteRow {
                    ident: change.ident,
                    label: label.clone(),
                    filter,
                    mode,
                    state,
                    udata: change.udata,
                });
            }
            // ENABLE or DISABLE of a knote that does not exist fails with ENOENT: not applied.
            None => {}
            Some(i) => {
                // A modification keeps the mode chosen at creation (B3) and stores the udata
                // (B4); only EV_ENABLE and EV_DISABLE change the state (B3, B5).
                let row = &mut self.rows[i];
                row.udata = change.udata;
                if change.flags & kq::EV_ENABLE != 0 {
                    row.state = KnoteState::Enabled;
                }
                if change.flags & kq::EV_DISABLE != 0 {
                    row.state = KnoteState::Disabled;
                }
            }
        }
    }

    /// Record the delivery of `event`; `None` when the table has no such knote.
    pub fn deliver(&mut self, event: &Kevent) -> Option<Delivery> {
        let i = self.live(event.ident, &kq::filter_name(event.filter))?;
        let row = &mut self.rows[i];
        let has = |m: &str| row.mode.iter().any(|x| x == m);
        Some(if has("ONESHOT") {
            row.state = KnoteState::Deleted;
            Delivery::Deleted
        } else if has("DISPATCH") {
            row.state = KnoteState::Disabled;
            Delivery::Disabled
        } else if has("CLEAR") {
            Delivery::Reset
        } else {
            Delivery::Level
        })
    }

    /// The descriptor `fd` is being closed: its socket knotes are gone with it (B22). Returns
    /// whether any row changed.
    pub fn close(&mut self, fd: usize) -> bool {
        let mut changed = false;
        for row in &mut self.rows {
            if row.ident == fd && row.filter != "USER" && row.state != KnoteState::Deleted {
                row.state = KnoteState::Deleted;
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(t: &KnoteTable) -> Vec<&'static str> {
        t.rows().iter().map(|r| r.state.as_str()).collect()
    }

    fn states(t: &KnoteTable) -> Vec<(String, &'static str)> {
        t.rows()
            .iter()
            .map(|r| (format!("{} {}", r.label, r.filter), r.state.as_str()))
            .collect()
    }

    #[test]
    fn oneshot_deletes_and_add_brings_it_back() {
        let mut t = KnoteTable::default();
        let add = Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD | kq::EV_ONESHOT).with_udata(7);
        t.apply(&add, &Role::Conn(1));
        assert_eq!(
            t.deliver(&Kevent::new(7, kq::EVFILT_READ, 0)),
            Some(Delivery::Deleted)
        );
        assert_eq!(state(&t), ["deleted"]);
        assert!(!t.is_live(7, kq::EVFILT_READ));
        t.apply(&add, &Role::Conn(1));
        assert_eq!(
            state(&t),
            ["enabled"],
            "the deleted row is replaced, not kept twice"
        );
    }

    #[test]
    fn dispatch_disables_and_only_enable_re_enables() {
        let mut t = KnoteTable::default();
        t.apply(
            &Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD | kq::EV_DISPATCH),
            &Role::Conn(1),
        );
        assert_eq!(
            t.deliver(&Kevent::new(7, kq::EVFILT_READ, 0)),
            Some(Delivery::Disabled)
        );
        t.apply(&Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD), &Role::Conn(1));
        assert_eq!(
            state(&t),
            ["disabled"],
            "EV_ADD alone does not re-enable (B3)"
        );
        t.apply(
            &Kevent::new(7, kq::EVFILT_READ, kq::EV_ENABLE).with_udata(9),
            &Role::Conn(1),
        );
        assert_eq!(state(&t), ["enabled"]);
        assert_eq!(t.rows()[0].udata, 9, "EV_ENABLE stores the udata (B4)");
        assert_eq!(t.rows()[0].mode, ["DISPATCH"], "the mode is kept (B3)");
    }

    #[test]
    fn read_mode_write_mode_and_close() {
        let mut t = KnoteTable::default();
        t.apply(&Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD), &Role::Conn(1));
        t.apply(
            &Kevent::new(7, kq::EVFILT_WRITE, kq::EV_ADD | kq::EV_DISABLE),
            &Role::Conn(1),
        );
        assert_eq!(
            states(&t),
            [
                ("conn1 READ".into(), "enabled"),
                ("conn1 WRITE".into(), "disabled")
            ]
        );
        t.apply(
            &Kevent::new(7, kq::EVFILT_READ, kq::EV_DISABLE),
            &Role::Conn(1),
        );
        t.apply(
            &Kevent::new(7, kq::EVFILT_WRITE, kq::EV_ENABLE),
            &Role::Conn(1),
        );
        assert_eq!(
            states(&t),
            [
                ("conn1 READ".into(), "disabled"),
                ("conn1 WRITE".into(), "enabled")
            ]
        );
        assert!(t.close(7));
        assert_eq!(
            states(&t),
            [
                ("conn1 READ".into(), "deleted"),
                ("conn1 WRITE".into(), "deleted")
            ]
        );
        assert!(!t.close(7), "closing again changes nothing");
        // The fd number is reused by the next client: the old rows leave.
        t.apply(&Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD), &Role::Conn(2));
        assert_eq!(states(&t), [("conn2 READ".into(), "enabled")]);
    }

    #[test]
    fn a_user_knote_shares_no_namespace_with_descriptors() {
        let mut t = KnoteTable::default();
        t.apply(
            &Kevent::new(0, kq::EVFILT_USER, kq::EV_ADD | kq::EV_CLEAR),
            &Role::Wake,
        );
        assert!(
            !t.close(0),
            "closing fd 0 leaves the USER knote ident 0 alone (B1)"
        );
        assert_eq!(t.rows()[0].mode, ["CLEAR"]);
    }
}
