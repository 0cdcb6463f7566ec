//! The backward engine: counts each node's dependencies in the reachable graph, then runs
//! nodes whose gradients are complete, latest-created first, summing gradients that meet
//! at a node. Iterative throughout, so graph depth is bounded by memory, not the stack.

use super::grad_mode::{self, GradModeGuard};
use super::node::{Edge, Node};
use crate::error::{Error, Result};
use crate::tensor::layout::fmt_shape;
use crate::Tensor;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;

type NodeId = usize;
fn id(n: &Arc<Node>) -> NodeId {
    Arc::as_ptr(n) as usize
}

/// What the engine does with gradients that reach their destinations.
enum Sink {
    /// `backward()`: accumulate into leaves' `.grad` (only the listed ones if `Some`).
    Accumulate(Option<HashSet<NodeId>>),
    /// `autograd.grad()`: capture the gradient arriving at (node, slot) into result `i`.
    Capture(HashMap<(NodeId, usize), usize>),
}

/// `Tensor.backward` / `autograd.backward`.
pub fn backward(
    roots: Vec<(Tensor, Tensor)>,
    retain_graph: bool,
    create_graph: bool,
    inputs: Option<Vec<Tensor>>,
) -> Result<()> {
    let root_edges = root_edges(roots)?;
    let sink = match inputs {
        None => Sink::Accumulate(None),
        Some(inputs) => {
            if inputs.is_empty() {
                return Err(Error::Runtime(
                    "'inputs' argument to backward() cannot be empty.".into(),
                ));
            }
            let mut only = HashSet::new();
            for t in &inputs {
                match t.gradient_edge() {
                    Some(e) if e.node.is_accumulator() => {
                        only.insert(id(&e.node));
                    }
                    Some(e) => {
                        // A non-leaf input: its gradient is stored in its .grad, as PyTorch does.
                        t.retain_grad()?;
                        only.insert(id(&e.node));
                    }
                    None => {
                        return Err(Error::Runtime(
                            "One of the differentiated Tensors does not require grad".into(),
                        ))
                    }
                }
            }
            Sink::Accumulate(Some(only))
        }
    };
    execute(root_edges, retain_graph, create_graph, sink)?;
    Ok(())
}

/// `autograd.grad`: the gradients of `outputs` w.r.t. `inputs`, leaving `.grad` untouched.
pub fn grad(
    outputs: Vec<(Tensor, Tensor)>,
    inputs: &[Tensor],
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>> {
    let root_edges = root_edges(outputs)?;
    let mut targets = HashMap::new();
    for (i, t) in inputs.iter().enumerate() {
        let e = t.gradient_edge().ok_or_else(|| {
            Error::Runtime("One of the differentiated Tensors does not require grad".into())
        })?;
        targets.insert((id(&e.node), e.input_nr), i);
    }
    let mut captured = execute(
        root_edges,
        retain_graph,
        create_graph,
        Sink::Capture(targets),
    )?;
    let mut out = Vec::with_capacity(inputs.len());
    for i in 0..inputs.len() {
        let g = captured.remove(&i);
        if g.is_none() && !allow_unused {
            return Err(Error::Runtime(
                "One of the differentiated Tensors appears to not have been used in the graph. Set allow_unused=True if this is the desired behavior.".into(),
            ));
        }
        out.push(g);
    }
    Ok(out)
}

fn root_edges(roots: Vec<(Tensor, Tensor)>) -> Result<Vec<(Edge, Tensor)>> {
    let mut out = Vec::with_capacity(roots.len());
    for (i, (t, g)) in roots.into_iter().enumerate() {
        if g.shape() != t.shape() {
            return Err(Error::Runtime(format!(
                "Mismatch in shape: grad_output[{i}] has a shape of torch.Size({}) and output[{i}] has a shape of torch.Size({}).",
                fmt_shape(g.shape()),
                fmt_shape(t.shape())
            )));
        }
        let e = t.gradient_edge().ok_or_else(|| {
            Error::Runtime(format!(
                "element {i} of tensors does not require grad and does not have a grad_fn"
            ))
        })?;
        let g = g.to_dtype(t.dtype())?;
        out.push((e, g));
    }
    Ok(out)
}

/// A ready node, ordered by creation: the most recent runs first.
struct Ready(u64, Arc<Node>);
impl PartialEq for Ready {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Ready {}
impl PartialOrd for Ready {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ready {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

fn add_grad(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        Some(prev) => prev.add(&g)?,
    });
    Ok(())
}

fn execute(
    roots: Vec<(Edge, Tensor)>,
    retain_graph: bool,
    create_graph: bool,
    sink: Sink,
) -> Result<HashMap<usize, Tensor>> {
    let _mode = GradModeGuard::new(create_graph);

    // Which nodes lead to a destination (all of them, unless the sink names some).
    let targets: Option<HashSet<NodeId>> = match &sink {
        Sink::Accumulate(None) => None,
        Sink::Accumulate(Some(only)) => Some(only.clone()),
        Sink::Capture(t) => Some(t.keys().map(|k| k.0).collect()),
    };
    let needed = targets.map(|t| needed_nodes(&roots, &t));
    let is_needed = |n: &Arc<Node>| needed.as_ref().is_none_or(|s| s.contains(&id(n)));

    // Dependency counts over the needed part of the graph.
    let mut deps: HashMap<NodeId, usize> = HashMap::new();
    let mut seen: HashSet<NodeId> = HashSet::new();
    let mut stack: Vec<Arc<Node>> = vec![];
    for (e, _) in &roots {
        if is_needed(&e.node) && seen.insert(id(&e.node)) {
            stack.push(e.node.clone());
        }
    }
    while let Some(n) = stack.pop() {
        for e in n.next_edges.iter().flatten() {
            if !is_needed(&e.node) {
                continue;
            }
            *deps.entry(id(&e.node)).or_insert(0) += 1;
            if seen.insert(id(&e.node)) {
                stack.push(e.node.clone());
            }
        }
    }

    let mut buffers: HashMap<NodeId, Vec<Option<Tensor>>> = HashMap::new();
    let mut ready = BinaryHeap::new();
    for (e, g) in roots {
        if !is_needed(&e.node) {
            continue;
        }
        let buf = buffers
            .entry(id(&e.node))
            .or_insert_with(|| vec![None; e.node.num_outputs()]);
        add_grad(&mut buf[e.input_nr], g)?;
        if deps.get(&id(&e.node)).copied().unwrap_or(0) == 0
            && !ready.iter().any(|r: &Ready| Arc::ptr_eq(&r.1, &e.node))
        {
            ready.push(Ready(e.node.seq, e.node.clone()));
        }
    }

    let mut captured = HashMap::new();
    while let Some(Ready(_, node)) = ready.pop() {
        let mut grads = buffers
            .remove(&id(&node))
            .unwrap_or_else(|| vec![None; node.num_outputs()]);
        let tensor_hooks = node.pre_hooks.lock().clone();
        for (nr, hook) in tensor_hooks {
            if let Some(new) = hook(grads[nr].as_ref())? {
                if grads[nr].is_none() {
                    return Err(Error::Runtime(
                        "can't replace a None gradient with a non-None value".into(),
                    ));
                }
                grads[nr] = Some(new);
            }
        }
        let node_hooks = node.node_pre_hooks.lock().clone();
        for hook in node_hooks {
            if let Some(new) = hook(&grads)? {
                check_hook_count("prehook", new.len(), grads.len())?;
                grads = new;
            }
        }
        for (nr, t) in node.retained.lock().iter() {
            if let (Some(g), Some(t)) = (&grads[*nr], t.upgrade()) {
                let t = Tensor(t);
                let g = if create_graph { g.clone() } else { g.detach() };
                let new = match t.grad() {
                    None => g.contiguous_copy()?,
                    Some(old) => old.add(&g)?,
                };
                t.0.meta.lock().grad = Some(new);
            }
        }
        if let Sink::Capture(targets) = &sink {
            for (nr, g) in grads.iter().enumerate() {
                if let (Some(&i), Some(g)) = (targets.get(&(id(&node), nr)), g) {
                    captured.insert(i, g.clone());
                }
            }
        }

        if let Some(leaf) = node.variable() {
            let accumulate = match &sink {
                Sink::Accumulate(None) => true,
                Sink::Accumulate(Some(only)) => only.contains(&id(&node)),
                Sink::Capture(_) => false,
            };
            if let (true, Some(g)) = (accumulate, grads.into_iter().next().flatten()) {
                accumulate_grad(leaf, g, create_graph)?;
            }
            continue;
        }

        let mut outs = if grads.iter().all(|g| g.is_none()) {
            vec![None; node.next_edges.len()]
        } else {
            if node.num_outputs() > 1 && node.materialize_grads {
                for (g, meta) in grads.iter_mut().zip(&node.outputs) {
                    if g.is_none() {
                        *g = Some(meta.zeros()?);
                    }
                }
            }
            // Only the inputs that lead to a destination: `autograd.grad(y, [w])` through a
            // convolution computes the weight's gradient and not the input's, as PyTorch's
            // engine does.
            let needs: Vec<bool> = node
                .next_edges
                .iter()
                .map(|e| e.as_ref().is_some_and(|e| is_needed(&e.node)))
                .collect();
            node.call(&grads, &needs, retain_graph)?
        };
        if outs.len() != node.next_edges.len() {
            return Err(Error::Runtime(format!(
                "function {} returned an incorrect number of gradients (expected {}, got {})",
                node.name(),
                node.next_edges.len(),
                outs.len()
            )));
        }
        let post_hooks = node.post_hooks.lock().clone();
        for hook in post_hooks {
            if let Some(new) = hook(&outs, &grads)? {
                check_hook_count("hook", new.len(), outs.len())?;
                outs = new;
            }
        }
        if grad_mode::is_anomaly_enabled() && grad_mode::is_anomaly_check_nan_enabled() {
            check_nan(&node, &outs)?;
        }
        for (e, g) in node.next_edges.iter().zip(outs) {
            let Some(e) = e else { continue };
            if !is_needed(&e.node) {
                continue;
            }
            if let Some(g) = g {
                let buf = buffers
                    .entry(id(&e.node))
                    .or_insert_with(|| vec![None; e.node.num_outputs()]);
                add_grad(&mut buf[e.input_nr], g)?;
            }
            let d = deps
                .get_mut(&id(&e.node))
                .expect("every needed edge was counted");
            *d -= 1;
            if *d == 0 {
                ready.push(Ready(e.node.seq, e.node.clone()));
            }
        }
    }
    Ok(captured)
}

/// Anomaly mode's check of a backward function's gradients: PyTorch's error for the first
/// that holds NaN.
fn check_nan(node: &Node, outs: &[Option<Tensor>]) -> Result<()> {
    for (i, g) in outs.iter().enumerate() {
        let Some(g) = g else { continue };
        if g.dtype().is_float() && g.isnan()?.count_nonzero(None)?.item_f64()? > 0.0 {
            return Err(Error::Runtime(format!(
                "Function '{}' returned nan values in its {i}th output.",
                node.name()
            )));
        }
    }
    Ok(())
}

/// PyTorch's error for a node hook that returned the wrong number of gradients.
fn check_hook_count(kind: &str, got: usize, expected: usize) -> Result<()> {
    if got == expected {
        return Ok(());
    }
    Err(Error::Runtime(format!(
        "{kind} 'hook' has returned an incorrect number of values (got {got}, but expected {expected})"
    )))
}

/// Nodes from which some target node can be reached (iterative post-order).
fn needed_nodes(roots: &[(Edge, Tensor)], targets: &HashSet<NodeId>) -> HashSet<NodeId> {
    let mut needed = HashSet::new();
    let mut done = HashSet::new();
    let mut stack: Vec<(Arc<Node>, bool)> =
        roots.iter().map(|(e, _)| (e.node.clone(), false)).collect();
    while let Some((n, expanded)) = stack.pop() {
        let nid = id(&n);
        if expanded {
            let any_child = n
                .next_edges
                .iter()
                .flatten()
                .any(|e| needed.contains(&id(&e.node)));
            if any_child || targets.contains(&nid) {
                needed.insert(nid);
            }
            continue;
        }
        if !done.insert(nid) {
            continue;
        }
        stack.push((n.clone(), true));
        for e in n.next_edges.iter().flatten() {
            if !done.contains(&id(&e.node)) {
                stack.push((e.node.clone(), false));
            }
        }
    }
    needed
}

/// Adds `g` into `leaf.grad`, after the leaf's hooks, as PyTorch's `AccumulateGrad`.
fn accumulate_grad(leaf: &Tensor, mut g: Tensor, create_graph: bool) -> Result<()> {
    let hooks = leaf.0.meta.lock().hooks.clone();
    for h in hooks {
        if let Some(new) = h(Some(&g))? {
            g = new;
        }
    }
    if g.shape() != leaf.shape() {
        return Err(Error::Runtime(format!(
            "Function AccumulateGrad returned an invalid gradient - got {} but expected shape compatible with {}",
            fmt_shape(g.shape()),
            fmt_shape(leaf.shape())
        )));
    }
    if g.dtype() != leaf.dtype() {
        g = g.to_dtype(leaf.dtype())?;
    }
    let old = leaf.grad();
    match old {
        None => {
            let new = if create_graph {
                g
            } else {
                // `g` goes before the detached handle is laid out, so a gradient nothing
                // else holds becomes the `.grad` itself instead of a copy.
                let detached = g.detach();
                drop(g);
                detached.into_grad_for(leaf)?
            };
            leaf.0.meta.lock().grad = Some(new);
        }
        Some(old) if !create_graph && !old.requires_grad() => old.add_assign_no_grad(&g)?,
        Some(old) => leaf.0.meta.lock().grad = Some(old.add(&g)?),
    }
    let post = leaf.0.meta.lock().post_accumulate_hooks.clone();
    for h in post {
        h(leaf)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::{grad_if, record};
    use parking_lot::Mutex;

    /// `a · b` recorded by hand, its backward noting which inputs the engine asked for.
    fn product(a: &Tensor, b: &Tensor) -> (Tensor, Arc<Mutex<Vec<Vec<bool>>>>) {
        let out = {
            let _off = GradModeGuard::new(false);
            a.mul(b).unwrap()
        };
        let asked = Arc::new(Mutex::new(vec![]));
        let (sa, sb, log) = (a.detach(), b.detach(), asked.clone());
        record("test_product", &[a, b], &out, move |g, needs| {
            log.lock().push(needs.to_vec());
            Ok(vec![
                grad_if(needs[0], || g.mul(&sb))?,
                grad_if(needs[1], || g.mul(&sa))?,
            ])
        });
        (out, asked)
    }

    fn leaf(v: f32) -> Tensor {
        let t = Tensor::from_vec(vec![v], &[1]);
        t.set_requires_grad(true).unwrap();
        t
    }

    #[test]
    fn a_node_computes_only_the_gradients_that_lead_to_a_destination() {
        let (a, b) = (leaf(2.0), leaf(3.0));
        let (y, asked) = product(&a, &b);
        let ones = Tensor::from_vec(vec![1.0f32], &[1]);
        // The gradient of `y` w.r.t. `x` alone, and the inputs the node was asked for.
        let grad_of = |x: &Tensor| {
            let g = grad(
                vec![(y.clone(), ones.clone())],
                std::slice::from_ref(x),
                true,
                false,
                false,
            )
            .unwrap();
            let value = g[0].as_ref().unwrap().to_vec::<f32>().unwrap();
            (value, asked.lock().pop())
        };
        assert_eq!(grad_of(&a), (vec![3.0], Some(vec![true, false])));
        assert_eq!(grad_of(&b), (vec![2.0], Some(vec![false, true])));
        // `backward(inputs=[b])` likewise; a plain backward asks for both.
        y.backward(Some(ones.clone()), true, false, Some(vec![b.clone()]))
            .unwrap();
        assert_eq!(asked.lock().pop(), Some(vec![false, true]));
        assert!(a.grad().is_none());
        y.backward(Some(ones.clone()), true, false, None).unwrap();
        assert_eq!(asked.lock().pop(), Some(vec![true, true]));
        // The gradient w.r.t. the product itself: its node is not run at all.
        let (z, asked_z) = product(&y, &b);
        let gy = grad(vec![(z, ones)], &[y], false, false, false).unwrap();
        assert_eq!(gy[0].as_ref().unwrap().to_vec::<f32>().unwrap(), vec![3.0]);
        assert_eq!(asked_z.lock().pop(), Some(vec![true, false]));
        assert!(asked.lock().is_empty());
    }
}
