//! Where the user is in the tree, with a browser's back and forward and
//! an up to the parent.

use crate::TREE;

/// A place in the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// The list of areas.
    Root,
    Area(usize),
    /// Area index, page index.
    Page(usize, usize),
}

impl Node {
    pub fn parent(self) -> Node {
        match self {
            Node::Root | Node::Area(_) => Node::Root,
            Node::Page(a, _) => Node::Area(a),
        }
    }

    /// The path the console version shows: `/`, `/network`, `/network/proxy`.
    pub fn path(self) -> String {
        match self {
            Node::Root => "/".into(),
            Node::Area(a) => format!("/{}", TREE[a].id),
            Node::Page(a, p) => format!("/{}", TREE[a].pages[p].id),
        }
    }

    /// The node a path names, absolute or relative to `self` (`..` goes up).
    pub fn resolve(self, path: &str) -> Option<Node> {
        let mut at = if path.starts_with('/') { Node::Root } else { self };
        for part in path.split('/').filter(|p| !p.is_empty() && *p != ".") {
            at = match (at, part) {
                (n, "..") => n.parent(),
                (Node::Root, id) => Node::Area(TREE.iter().position(|a| a.id == id)?),
                (Node::Area(a), id) => {
                    let full = format!("{}/{id}", TREE[a].id);
                    Node::Page(a, TREE[a].pages.iter().position(|p| p.id == full)?)
                }
                (Node::Page(..), _) => return None,
            };
        }
        Some(at)
    }

    /// What is below (areas of the root, pages of an area).
    pub fn children(self) -> Vec<Node> {
        match self {
            Node::Root => (0..TREE.len()).map(Node::Area).collect(),
            Node::Area(a) => (0..TREE[a].pages.len()).map(|p| Node::Page(a, p)).collect(),
            Node::Page(..) => vec![],
        }
    }
}

/// The history of visited nodes.
#[derive(Clone, Debug)]
pub struct Nav {
    history: Vec<Node>,
    at: usize,
}

impl Default for Nav {
    fn default() -> Nav {
        Nav { history: vec![Node::Root], at: 0 }
    }
}

impl Nav {
    pub fn current(&self) -> Node {
        self.history[self.at]
    }

    /// Goes to `n`; what was ahead of the current node is forgotten.
    pub fn go(&mut self, n: Node) {
        if n == self.current() {
            return;
        }
        self.history.truncate(self.at + 1);
        self.history.push(n);
        self.at += 1;
    }

    pub fn back(&mut self) -> bool {
        let can = self.at > 0;
        if can {
            self.at -= 1;
        }
        can
    }

    pub fn forward(&mut self) -> bool {
        let can = self.at + 1 < self.history.len();
        if can {
            self.at += 1;
        }
        can
    }

    pub fn up(&mut self) -> bool {
        let p = self.current().parent();
        let can = p != self.current();
        self.go(p);
        can
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_back_forward_and_up() {
        let eth = Node::Root.resolve("/network/ethernet").unwrap();
        assert_eq!(eth.path(), "/network/ethernet");
        assert_eq!(eth.resolve("../proxy").unwrap().path(), "/network/proxy");
        assert_eq!(Node::Root.resolve("system").unwrap().path(), "/system");
        assert_eq!(Node::Root.resolve("/nowhere"), None);
        assert_eq!(eth.resolve("deeper"), None);
        let mut nav = Nav::default();
        nav.go(eth);
        nav.go(Node::Root.resolve("/system/time").unwrap());
        assert!(nav.back());
        assert_eq!(nav.current(), eth);
        assert!(nav.up());
        assert_eq!(nav.current().path(), "/network");
        assert!(!nav.forward(), "going somewhere new forgets what was ahead");
        assert!(nav.back() && nav.forward());
        assert_eq!(nav.current().path(), "/network");
        assert_eq!(Node::Area(1).children().len(), 3);
    }
}
