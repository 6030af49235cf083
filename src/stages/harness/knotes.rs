//! The knote table as the lab knows it (opening 2 of the teaching notes): one row per
//! (ident, filter) with its mode and its state, kept in step with every change the lab applied
//! and every event it collected. kqueue has no call that lists knotes, so the lab follows the
//! rules instead: B2–B6 for changes, B14–B16 for deliveries.

use crate::kq::{self, Kevent};
use crate::trace::{KnoteRow, KnoteState};

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

#[derive(Default)]
pub struct KnoteTable {
    rows: Vec<KnoteRow>,
}

impl KnoteTable {
    pub fn rows(&self) -> &[KnoteRow] {
        &self.rows
    }

    fn live(&self, ident: usize, filter: &str) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| r.ident == ident && r.filter == filter && r.state != KnoteState::Deleted)
    }

    /// True when (ident, filter) has a knote that was not deleted.
    pub fn is_live(&self, ident: usize, filter: i16) -> bool {
        self.live(ident, &kq::filter_name(filter)).is_some()
    }

    /// Apply one change as kqueue does. `label` names the ident for a new row.
    pub fn apply(&mut self, change: &Kevent, label: String) {
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
                // A deleted knote stays listed until its ident is reused (contract).
                self.rows
                    .retain(|r| !(r.ident == change.ident && r.state == KnoteState::Deleted));
                let mode = [
                    (kq::EV_ONESHOT, "ONESHOT"),
                    (kq::EV_DISPATCH, "DISPATCH"),
                    (kq::EV_CLEAR, "CLEAR"),
                ]
                .iter()
                .filter(|(bit, _)| change.flags & bit != 0)
                .map(|(_, name)| name.to_string())
                .collect();
                // EV_ADD|EV_DISABLE registers the knote disabled (B5).
                let state = if change.flags & kq::EV_DISABLE != 0 {
                    KnoteState::Disabled
                } else {
                    KnoteState::Enabled
                };
                self.rows.push(KnoteRow {
                    ident: change.ident,
                    label,
                    filter,
                    mode,
                    state,
                    udata: change.udata,
                });
            }
            None => {}
            Some(i) => {
                // A modification keeps the mode chosen at creation (B3) and takes the udata
                // (B4); only EV_ENABLE / EV_DISABLE change the state (B3, B5).
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

    /// Record the delivery of `event`; `None` when the lab has no such knote.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(t: &KnoteTable) -> Vec<&'static str> {
        t.rows().iter().map(|r| r.state.as_str()).collect()
    }

    #[test]
    fn oneshot_deletes_and_add_brings_it_back() {
        let mut t = KnoteTable::default();
        let add = Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD | kq::EV_ONESHOT).with_udata(7);
        t.apply(&add, "conn1".into());
        assert_eq!(
            t.deliver(&Kevent::new(7, kq::EVFILT_READ, 0)),
            Some(Delivery::Deleted)
        );
        assert_eq!(state(&t), ["deleted"]);
        assert!(!t.is_live(7, kq::EVFILT_READ));
        t.apply(&add, "conn1".into());
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
            "conn1".into(),
        );
        assert_eq!(
            t.deliver(&Kevent::new(7, kq::EVFILT_READ, 0)),
            Some(Delivery::Disabled)
        );
        t.apply(&Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD), "conn1".into());
        assert_eq!(
            state(&t),
            ["disabled"],
            "EV_ADD alone does not re-enable (B3)"
        );
        t.apply(
            &Kevent::new(7, kq::EVFILT_READ, kq::EV_ENABLE).with_udata(9),
            "conn1".into(),
        );
        assert_eq!(state(&t), ["enabled"]);
        assert_eq!(t.rows()[0].udata, 9, "EV_ENABLE stores the udata (B4)");
        assert_eq!(t.rows()[0].mode, ["DISPATCH"], "the mode is kept (B3)");
    }
}
