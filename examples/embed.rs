//! Using the rustorch engine from Rust, with no Python: tensors, broadcasting ops,
//! reductions, a matrix product and a backward pass.
//!
//! Run with `cargo run --release --example embed`.

use rustorch::{DType, Result, Tensor};

fn main() -> Result<()> {
    // A 2x3 float32 tensor and a broadcast row.
    let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    let row = Tensor::from_vec(vec![10.0f32, 20.0, 30.0], &[3]);
    let y = x.add(&row)?.relu()?;
    println!("x + row = {:?} {:?}", y.shape(), y.to_vec::<f32>()?);

    // Views share storage: the transpose is a new layout over the same buffer.
    let xt = x.transpose(0, 1)?;
    println!(
        "x^T strides {:?}, contiguous: {}",
        xt.strides(),
        xt.is_contiguous()
    );

    // Matrix product reads the transposed operand through its strides.
    let gram = x.matmul(&xt)?;
    println!("x @ x^T = {:?}", gram.to_vec::<f32>()?);

    // Reductions and softmax along a dim.
    let s = x.sum_dims(Some(&[1]), false, None)?;
    println!("row sums = {:?}", s.to_vec::<f32>()?);
    println!("softmax = {:?}", x.softmax(-1)?.to_vec::<f32>()?);

    // Autograd: d/dw of sum((x @ w)^2).
    let w = Tensor::from_vec(vec![0.5f64, -1.0, 2.0], &[3, 1]);
    w.set_requires_grad(true)?;
    let xd = x.to_dtype(DType::F64)?;
    let out = xd.matmul(&w)?;
    let loss = out.mul(&out)?.sum()?;
    loss.backward(None, false, false, None)?;
    println!(
        "loss = {}, dloss/dw = {:?}",
        loss.item_f64()?,
        w.grad().unwrap().to_vec::<f64>()?
    );
    Ok(())
}
