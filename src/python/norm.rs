//! Bindings of the normalization ops (`crate::ops::norm`), called by
//! `rustorch.nn._functional_norm`: argument conversion only.

use super::convert::{int_list, sizes_from};
use super::tensor::PyTensor;
use crate::ops::norm::{self, Affine, RunningStats};
use crate::Tensor;
use pyo3::prelude::*;

type R = PyResult<PyTensor>;
type Opt<'py> = Option<PyRef<'py, PyTensor>>;

fn inner<'a>(t: &'a Opt<'_>) -> Option<&'a Tensor> {
    t.as_ref().map(|t| &t.inner)
}

/// A `normalized_shape` (an int or a sequence of ints) as sizes.
fn normalized_shape(obj: &Bound<'_, PyAny>) -> PyResult<Vec<usize>> {
    sizes_from(int_list(obj)?)
}

#[pyfunction]
#[pyo3(signature = (input, running_mean, running_var, weight, bias, training, momentum, eps))]
#[allow(clippy::too_many_arguments)]
pub fn _batch_norm(
    input: PyRef<'_, PyTensor>,
    running_mean: Opt<'_>,
    running_var: Opt<'_>,
    weight: Opt<'_>,
    bias: Opt<'_>,
    training: bool,
    momentum: f64,
    eps: f64,
) -> R {
    let running = RunningStats {
        mean: inner(&running_mean),
        var: inner(&running_var),
        momentum,
    };
    let affine = Affine {
        weight: inner(&weight),
        bias: inner(&bias),
    };
    Ok(PyTensor::new(norm::batch_norm(
        &input.inner,
        running,
        affine,
        training,
        eps,
    )?))
}

#[pyfunction]
#[pyo3(signature = (input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps))]
#[allow(clippy::too_many_arguments)]
pub fn _instance_norm(
    input: PyRef<'_, PyTensor>,
    running_mean: Opt<'_>,
    running_var: Opt<'_>,
    weight: Opt<'_>,
    bias: Opt<'_>,
    use_input_stats: bool,
    momentum: f64,
    eps: f64,
) -> R {
    let running = RunningStats {
        mean: inner(&running_mean),
        var: inner(&running_var),
        momentum,
    };
    let affine = Affine {
        weight: inner(&weight),
        bias: inner(&bias),
    };
    Ok(PyTensor::new(norm::instance_norm(
        &input.inner,
        running,
        affine,
        use_input_stats,
        eps,
    )?))
}

#[pyfunction]
#[pyo3(signature = (input, normalized_shape, weight, bias, eps))]
pub fn _layer_norm(
    input: PyRef<'_, PyTensor>,
    normalized_shape: &Bound<'_, PyAny>,
    weight: Opt<'_>,
    bias: Opt<'_>,
    eps: f64,
) -> R {
    let affine = Affine {
        weight: inner(&weight),
        bias: inner(&bias),
    };
    let shape = self::normalized_shape(normalized_shape)?;
    Ok(PyTensor::new(norm::layer_norm(
        &input.inner,
        &shape,
        affine,
        eps,
    )?))
}

#[pyfunction]
#[pyo3(signature = (input, num_groups, weight, bias, eps))]
pub fn _group_norm(
    input: PyRef<'_, PyTensor>,
    num_groups: usize,
    weight: Opt<'_>,
    bias: Opt<'_>,
    eps: f64,
) -> R {
    let affine = Affine {
        weight: inner(&weight),
        bias: inner(&bias),
    };
    Ok(PyTensor::new(norm::group_norm(
        &input.inner,
        num_groups,
        affine,
        eps,
    )?))
}

#[pyfunction]
#[pyo3(signature = (input, normalized_shape, weight, eps))]
pub fn _rms_norm(
    input: PyRef<'_, PyTensor>,
    normalized_shape: &Bound<'_, PyAny>,
    weight: Opt<'_>,
    eps: Option<f64>,
) -> R {
    let shape = self::normalized_shape(normalized_shape)?;
    Ok(PyTensor::new(norm::rms_norm(
        &input.inner,
        &shape,
        inner(&weight),
        eps,
    )?))
}

#[pyfunction]
#[pyo3(signature = (input, size, alpha, beta, k))]
pub fn _local_response_norm(
    input: PyRef<'_, PyTensor>,
    size: usize,
    alpha: f64,
    beta: f64,
    k: f64,
) -> R {
    Ok(PyTensor::new(norm::local_response_norm(
        &input.inner,
        size,
        alpha,
        beta,
        k,
    )?))
}

/// Adds this file's functions to `rustorch._C`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_batch_norm, m)?)?;
    m.add_function(wrap_pyfunction!(_instance_norm, m)?)?;
    m.add_function(wrap_pyfunction!(_layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(_group_norm, m)?)?;
    m.add_function(wrap_pyfunction!(_rms_norm, m)?)?;
    m.add_function(wrap_pyfunction!(_local_response_norm, m)?)?;
    Ok(())
}
