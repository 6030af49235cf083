//! The read-timeout list (Part 5b, kept through Part 7): clients ordered by deadline.
//!
//! Every deadline is "now + read timeout", set when a client connects and again each time it
//! sends a complete message (and when its deadline passes while the server still owes it echoes:
//! the server was behind, not the client), so moving the client to the *tail* keeps the list
//! sorted. The head is always the next client to time out: the server closes every expired head,
//! and the first deadline still in the future becomes the kevent timeout (none at all: a NULL
//! timeout, errata 8).
//!
//! The tutorial uses a doubly linked list of nodes pointing at clients. This is the same list,
//! linked by slab index instead of by pointer, so removing a client is still O(1).

use std::time::Instant;

use super::token::Token;

#[derive(Clone, Copy, Debug)]
struct Link {
    token: Token,
    deadline: Instant,
    prev: Option<usize>,
    next: Option<usize>,
}

#[derive(Default)]
pub struct TimeoutList {
    /// Indexed by the token's slot index.
    links: Vec<Option<Link>>,
    head: Option<usize>,
    tail: Option<usize>,
}

impl TimeoutList {
    /// Give `token` a new deadline and move it to the tail (the tutorial's `remove` + `append`).
    pub fn push_back(&mut self, token: Token, deadline: Instant) {
        self.remove(token);
        if self.links.len() <= token.index {
            self.links.resize(token.index + 1, None);
        }
        debug_assert!(
            self.tail
                .and_then(|t| self.links[t])
                .is_none_or(|t| t.deadline <= deadline),
            "deadlines are appended in order"
        );
        self.links[token.index] = Some(Link {
            token,
            deadline,
            prev: self.tail,
            next: None,
        });
        match self.tail {
            Some(tail) => {
                if let Some(link) = self.links[tail].as_mut() {
                    link.next = Some(token.index);
                }
            }
            None => self.head = Some(token.index),
        }
        self.tail = Some(token.index);
    }

    /// Take `token` out of the list (when it is closed). Unknown tokens are ignored.
    pub fn remove(&mut self, token: Token) {
        let Some(link) = self.links.get(token.index).copied().flatten() else {
            return;
        };
        if link.token != token {
            return;
        }
        match link.prev {
            Some(prev) => {
                if let Some(p) = self.links[prev].as_mut() {
                    p.next = link.next;
                }
            }
            None => self.head = link.next,
        }
        match link.next {
            Some(next) => {
                if let Some(n) = self.links[next].as_mut() {
                    n.prev = link.prev;
                }
            }
            None => self.tail = link.prev,
        }
        self.links[token.index] = None;
    }

    /// The client that times out first, and when.
    pub fn first(&self) -> Option<(Token, Instant)> {
        let link = self.links[self.head?]?;
        Some((link.token, link.deadline))
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn token(index: usize) -> Token {
        Token {
            index,
            generation: 1,
        }
    }

    #[test]
    fn the_head_is_the_earliest_deadline_and_a_message_moves_a_client_to_the_tail() {
        let now = Instant::now();
        let mut list = TimeoutList::default();
        list.push_back(token(0), now);
        list.push_back(token(1), now + Duration::from_millis(1));
        list.push_back(token(2), now + Duration::from_millis(2));
        assert_eq!(list.first().map(|f| f.0), Some(token(0)));
        list.push_back(token(0), now + Duration::from_millis(3));
        assert_eq!(list.first().map(|f| f.0), Some(token(1)));
        list.remove(token(1));
        assert_eq!(list.first().map(|f| f.0), Some(token(2)));
        list.remove(token(2));
        list.remove(token(0));
        assert!(list.is_empty());
        list.push_back(token(5), now + Duration::from_millis(9));
        assert_eq!(list.first().map(|f| f.0), Some(token(5)));
    }
}
