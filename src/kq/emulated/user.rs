//! EVFILT_USER (B24): an event the program triggers itself, kept entirely in user space.
//! The arithmetic is FreeBSD's `filt_usertouch`.

use super::consts::*;
use super::knote::User;

/// The state of a new EVFILT_USER knote (FreeBSD `filt_userattach`, B24): never triggered,
/// even by an EV_ADD that carries NOTE_TRIGGER, because `kqueue_register` stores the change's
/// fflags and data (`kn_sfflags`, `kn_sdata`, as given) and zeroes the knote's own fflags
/// before the attach looks at them.
pub(super) fn attach(fflags: u32, data: i64) -> User {
    User {
        triggered: false,
        fflags,
        data,
    }
}

/// A later change on the knote (FreeBSD `filt_usertouch`, EVENT_REGISTER):
/// - NOTE_TRIGGER triggers it;
/// - the control bits combine the change's 24 user bits with the stored ones: FFNOP ignores
///   them, FFAND ands, FFOR ors, FFCOPY replaces;
/// - data becomes the change's data (so the delivered data is that of the last change);
/// - a change carrying EV_CLEAR resets the trigger.
///
/// Returns the change's fflags as FreeBSD leaves them in the kevent (its 24 user bits only),
/// which is what a receipt for this change shows (B8).
pub(super) fn touch(user: &mut User, flags: u16, fflags: u32, data: i64) -> u32 {
    if fflags & NOTE_TRIGGER != 0 {
        user.triggered = true;
    }
    let bits = fflags & NOTE_FFLAGSMASK;
    match fflags & NOTE_FFCTRLMASK {
        NOTE_FFAND => user.fflags &= bits,
        NOTE_FFOR => user.fflags |= bits,
        NOTE_FFCOPY => user.fflags = bits,
        _ => {} // NOTE_FFNOP
    }
    user.data = data;
    if flags & EV_CLEAR != 0 {
        user.triggered = false;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bits_combine_the_user_bits() {
        let mut user = attach(NOTE_TRIGGER | 0x11, 0);
        assert!(!user.triggered, "an EV_ADD never triggers");
        assert_eq!(user.fflags, NOTE_TRIGGER | 0x11, "stored as given");
        touch(&mut user, 0, NOTE_FFCOPY | 0x11, 0);
        touch(&mut user, 0, NOTE_FFOR | 0x100, 7);
        assert_eq!((user.fflags, user.data), (0x111, 7));
        touch(&mut user, 0, NOTE_FFAND | 0x101, 8);
        assert_eq!(user.fflags, 0x101);
        touch(&mut user, 0, NOTE_FFCOPY | NOTE_TRIGGER | 0x2, 9);
        assert_eq!((user.fflags, user.data, user.triggered), (0x2, 9, true));
        touch(&mut user, 0, NOTE_FFNOP | 0xff, 10);
        assert_eq!(user.fflags, 0x2);
        touch(&mut user, EV_CLEAR, 0, 0);
        assert!(!user.triggered);
    }
}
