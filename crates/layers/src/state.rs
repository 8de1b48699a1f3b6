//! A layer's named state — parameters, buffers, counters — through one traversal.
//!
//! A layer names each piece of its state once, in [`Layer::visit_state`] and
//! [`Layer::visit_state_mut`]; everything else ([`Layer::parameters`],
//! [`Layer::buffers`], [`Layer::extra_state`], their `_mut` twins, checkpoints,
//! optimizers, the trainer's has-state check) is derived from that traversal. A
//! container forwards a child with **one** call, [`StateVisitor::child`], which
//! passes on every kind of state under the prefix `name.` — so a container cannot
//! forget its children's running statistics or counters.
//!
//! ```
//! use ndarray_rand::rand::{rngs::StdRng, SeedableRng};
//! use scratchnet_layers::*;
//! let mut rng = StdRng::seed_from_u64(0);
//! let model = Sequential::new()
//!     .add("conv", Conv2d::new(1, 2, [3, 3], Conv2dConfig::default(), &mut rng))
//!     .add("bn", BatchNorm2d::new(2, BatchNorm2dConfig::default()));
//! let mut names = Vec::new();
//! model.visit_state(&mut StateVisitor::new(&mut |name, state| {
//!     let kind = match state {
//!         StateRef::Parameter(_) => "parameter",
//!         StateRef::Buffer(_) => "buffer",
//!         StateRef::Counter(_) => "counter",
//!     };
//!     names.push(format!("{name} {kind}"));
//! }));
//! assert_eq!(names[..3], ["conv.weight parameter", "conv.bias parameter", "bn.weight parameter"]);
//! assert_eq!(names[4], "bn.running_mean buffer");
//! ```

use crate::{Layer, Parameter};
use ndarray::ArrayD;

/// One named piece of a layer's state, shared.
#[derive(Clone, Copy, Debug)]
pub enum StateRef<'a> {
    /// A trainable tensor and its gradient (`weight`).
    Parameter(&'a Parameter),
    /// A tensor saved in a checkpoint but not trained (`running_mean`).
    Buffer(&'a ArrayD<f32>),
    /// An integer a resumed run needs (a [`Dropout`](crate::Dropout)'s `step`).
    Counter(u64),
}

/// One named piece of a layer's state, mutable.
#[derive(Debug)]
pub enum StateMut<'a> {
    /// A trainable tensor and its gradient (`weight`).
    Parameter(&'a mut Parameter),
    /// A tensor saved in a checkpoint but not trained (`running_mean`).
    Buffer(&'a mut ArrayD<f32>),
    /// An integer a resumed run needs (a [`Dropout`](crate::Dropout)'s `step`).
    Counter(&'a mut u64),
}

/// What [`Layer::visit_state`] is given: the layer names each piece of its state once
/// (`parameter`, `buffer`, `counter`) and forwards each child with [`child`](Self::child).
///
/// Names are PyTorch's `state_dict` keys: the visitor prepends the prefixes of the
/// containers above (`layer1.0.bn1.` + `running_mean`).
pub struct StateVisitor<'a, 'v> {
    prefix: String,
    sink: &'v mut dyn FnMut(String, StateRef<'a>),
}

impl<'a, 'v> StateVisitor<'a, 'v> {
    /// A visitor that calls `sink` with each piece of state and its full name.
    pub fn new(sink: &'v mut dyn FnMut(String, StateRef<'a>)) -> Self {
        Self {
            prefix: String::new(),
            sink,
        }
    }

    /// A trainable parameter named `name` (`"weight"`).
    pub fn parameter(&mut self, name: &str, parameter: &'a Parameter) {
        let name = self.full_name(name);
        (self.sink)(name, StateRef::Parameter(parameter));
    }

    /// A buffer named `name` (`"running_mean"`).
    pub fn buffer(&mut self, name: &str, buffer: &'a ArrayD<f32>) {
        let name = self.full_name(name);
        (self.sink)(name, StateRef::Buffer(buffer));
    }

    /// A counter named `name` (`"step"`).
    pub fn counter(&mut self, name: &str, counter: u64) {
        let name = self.full_name(name);
        (self.sink)(name, StateRef::Counter(counter));
    }

    /// All of a child layer's state, with names prefixed by `name.`: the one way a
    /// container forwards a child (it cannot forget a kind of state).
    pub fn child(&mut self, name: &str, layer: &'a dyn Layer) {
        let prefix = self.full_name(name) + ".";
        layer.visit_state(&mut StateVisitor {
            prefix,
            sink: &mut *self.sink,
        });
    }

    /// All of a child layer's state without a prefix of its own: a
    /// [`Residual`](crate::Residual)'s body children appear at the block's level
    /// (`conv1.weight`), as in torchvision's `BasicBlock`.
    pub fn inline(&mut self, layer: &'a dyn Layer) {
        layer.visit_state(self);
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// What [`Layer::visit_state_mut`] is given: [`StateVisitor`] with mutable access.
pub struct StateVisitorMut<'a, 'v> {
    prefix: String,
    sink: &'v mut dyn FnMut(String, StateMut<'a>),
}

impl<'a, 'v> StateVisitorMut<'a, 'v> {
    /// A visitor that calls `sink` with each piece of state and its full name.
    pub fn new(sink: &'v mut dyn FnMut(String, StateMut<'a>)) -> Self {
        Self {
            prefix: String::new(),
            sink,
        }
    }

    /// A trainable parameter named `name` (`"weight"`).
    pub fn parameter(&mut self, name: &str, parameter: &'a mut Parameter) {
        let name = self.full_name(name);
        (self.sink)(name, StateMut::Parameter(parameter));
    }

    /// A buffer named `name` (`"running_mean"`).
    pub fn buffer(&mut self, name: &str, buffer: &'a mut ArrayD<f32>) {
        let name = self.full_name(name);
        (self.sink)(name, StateMut::Buffer(buffer));
    }

    /// A counter named `name` (`"step"`).
    pub fn counter(&mut self, name: &str, counter: &'a mut u64) {
        let name = self.full_name(name);
        (self.sink)(name, StateMut::Counter(counter));
    }

    /// All of a child layer's state, with names prefixed by `name.`.
    pub fn child(&mut self, name: &str, layer: &'a mut dyn Layer) {
        let prefix = self.full_name(name) + ".";
        layer.visit_state_mut(&mut StateVisitorMut {
            prefix,
            sink: &mut *self.sink,
        });
    }

    /// All of a child layer's state without a prefix of its own.
    pub fn inline(&mut self, layer: &'a mut dyn Layer) {
        layer.visit_state_mut(self);
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}
