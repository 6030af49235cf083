//! The server's knote table, as the trace shows it (contract: the `knotes` record).
//!
//! kqueue has no call that lists knotes, so the server follows the rules instead: every change a
//! kevent call applied (B2–B6) and every close (B22: closing a descriptor removes its knotes).
//! The server's knotes are level-triggered sockets and EV_CLEAR user knotes, so no delivery ever
//! deletes or disables one: only changes and closes move this table. (The flag stages keep their
//! own table in `stages::harness`, which also follows ONESHOT and DISPATCH deliveries.)
//!
//! The table is kept only while a trace that shows it is attached: `lab bench`, `spawn` and
//! `--quiet` never build a row.

use crate::kq::{self, Kevent};
use crate::trace::{KnoteRow, KnoteState};

#[derive(Debug, Default)]
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

    /// Apply one change that kevent accepted. `label` names the ident for a new row.
    pub fn apply(&mut self, change: &Kevent, label: &str) {
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
                // (contract: listed as deleted until the ident is reused).
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
                // EV_ADD|EV_DISABLE registers the knote disabled (B5): the WRITE knote of a
                // client in read mode.
                let state = if change.flags & kq::EV_DISABLE != 0 {
                    KnoteState::Disabled
                } else {
                    KnoteState::Enabled
                };
                self.rows.push(KnoteRow {
                    ident: change.ident,
                    label: label.to_string(),
                    filter,
                    mode,
                    state,
                    udata: change.udata,
                });
            }
            // ENABLE or DISABLE of a knote that does not exist fails with ENOENT: not applied.
            None => {}
            Some(i) => {
                // A modification keeps the mode (B3) and stores the udata (B4); only EV_ENABLE
                // and EV_DISABLE change the state (B3, B5).
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

    fn states(t: &KnoteTable) -> Vec<(String, &'static str)> {
        t.rows()
            .iter()
            .map(|r| (format!("{} {}", r.label, r.filter), r.state.as_str()))
            .collect()
    }

    #[test]
    fn read_mode_write_mode_and_close() {
        let mut t = KnoteTable::default();
        t.apply(&Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD), "conn1");
        t.apply(
            &Kevent::new(7, kq::EVFILT_WRITE, kq::EV_ADD | kq::EV_DISABLE),
            "conn1",
        );
        assert_eq!(
            states(&t),
            [
                ("conn1 READ".into(), "enabled"),
                ("conn1 WRITE".into(), "disabled")
            ]
        );
        t.apply(&Kevent::new(7, kq::EVFILT_READ, kq::EV_DISABLE), "conn1");
        t.apply(&Kevent::new(7, kq::EVFILT_WRITE, kq::EV_ENABLE), "conn1");
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
        t.apply(&Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD), "conn2");
        assert_eq!(states(&t), [("conn2 READ".into(), "enabled")]);
    }

    #[test]
    fn a_user_knote_shares_no_namespace_with_descriptors() {
        let mut t = KnoteTable::default();
        t.apply(
            &Kevent::new(0, kq::EVFILT_USER, kq::EV_ADD | kq::EV_CLEAR),
            "wake",
        );
        assert!(
            !t.close(0),
            "closing fd 0 leaves the USER knote ident 0 alone (B1)"
        );
        assert_eq!(t.rows()[0].mode, ["CLEAR"]);
    }
}
