//! What the server puts in `udata`: a generation-checked token, not a pointer (errata 9).
//!
//! The tutorial stores `@intFromPtr(client)` in udata and turns every event's udata back into a
//! `*Client`. An event or an `EV_ERROR` receipt that arrives after that client was freed then
//! points at freed memory, or at whichever client the allocator put there next. Here udata is a
//! slot index in a [`Slab`] plus the slot's *generation*; freeing a slot bumps its generation,
//! so a stale token is recognised and can never reach another or a freed client.
//!
//! udata `0` is the listener, as in the tutorial; a client token is never 0 (generations start
//! at 1).

/// A client's udata: slot index in the low half of the bits, generation in the high half.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    pub index: usize,
    pub generation: usize,
}

const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: usize = usize::MAX >> INDEX_BITS;

impl Token {
    /// The udata value carried by this client's knotes.
    pub fn to_udata(self) -> usize {
        (self.generation << INDEX_BITS) | self.index
    }

    /// The token a udata value claims to be (it may be stale: ask the slab).
    pub fn from_udata(udata: usize) -> Token {
        Token {
            index: udata & INDEX_MASK,
            generation: udata >> INDEX_BITS,
        }
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slot {} gen {}", self.index, self.generation)
    }
}

struct Slot<T> {
    generation: usize,
    value: Option<T>,
}

/// Clients by slot. Freed slots are reused (last freed, first reused), each time with a new
/// generation.
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Store `value`; its token is what goes into udata.
    pub fn insert(&mut self, value: T) -> Token {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index];
            slot.value = Some(value);
            return Token {
                index,
                generation: slot.generation,
            };
        }
        let index = self.slots.len();
        assert!(index <= INDEX_MASK, "more clients than a token can number");
        self.slots.push(Slot {
            generation: 1,
            value: Some(value),
        });
        Token {
            index,
            generation: 1,
        }
    }

    /// The value behind `token`, or `None` if the token is stale (its slot was freed, perhaps
    /// reused) or was never issued.
    pub fn get(&self, token: Token) -> Option<&T> {
        let slot = self.slots.get(token.index)?;
        if slot.generation == token.generation {
            slot.value.as_ref()
        } else {
            None
        }
    }

    pub fn get_mut(&mut self, token: Token) -> Option<&mut T> {
        let slot = self.slots.get_mut(token.index)?;
        if slot.generation == token.generation {
            slot.value.as_mut()
        } else {
            None
        }
    }

    /// Free the slot: the value is returned and every copy of `token` becomes stale.
    pub fn remove(&mut self, token: Token) -> Option<T> {
        let slot = self.slots.get_mut(token.index)?;
        if slot.generation != token.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        if slot.generation == 0 {
            slot.generation = 1; // never 0: a client's udata is never the listener's
        }
        self.free.push(token.index);
        self.len -= 1;
        Some(value)
    }

    /// Whether `token` was once issued for a slot that has since been freed (and maybe reused):
    /// what a stale udata looks like.
    pub fn is_stale(&self, token: Token) -> bool {
        match self.slots.get(token.index) {
            Some(slot) => token.generation != 0 && slot.generation != token.generation,
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every live token and value.
    pub fn iter(&self) -> impl Iterator<Item = (Token, &T)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            slot.value.as_ref().map(|value| {
                (
                    Token {
                        index,
                        generation: slot.generation,
                    },
                    value,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_through_udata_and_is_never_zero() {
        let token = Token {
            index: 7,
            generation: 3,
        };
        assert_eq!(Token::from_udata(token.to_udata()), token);
        let mut slab = Slab::default();
        assert_ne!(slab.insert("a").to_udata(), 0);
    }

    #[test]
    fn a_freed_slot_reused_rejects_the_old_token() {
        let mut slab = Slab::default();
        let old = slab.insert("first client");
        assert_eq!(slab.remove(old), Some("first client"));
        let new = slab.insert("second client");
        assert_eq!(new.index, old.index, "the slot is reused");
        assert_eq!(slab.get(old), None, "the stale udata reaches nobody");
        assert!(slab.is_stale(old));
        assert_eq!(slab.get(new), Some(&"second client"));
        assert_eq!(slab.remove(old), None);
        assert_eq!(slab.len(), 1);
    }
}
