//! Serving a model from Rust with no Python: the LeNet-5 that `examples/lenet.py` trained,
//! loaded from its saved state dict, classifying Fashion-MNIST's test images.
//!
//!     python examples/lenet.py --save lenet.pt
//!     cargo run --release --example serve -- lenet.pt [/usr/share/datasets/fashion-mnist]
//!
//! (PyTorch's checkpoint format or, for a `.safetensors` name, safetensors.)
//!
//! It prints the test accuracy, which is the one `lenet.py` printed: the same weights, the
//! same preprocessing (28×28 greyscale padded by 2 and repeated to three channels,
//! normalised with Fashion-MNIST's mean and std) and the same ops.

use flate2::read::GzDecoder;
use rustorch::nn::{load_state_dict, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
use rustorch::{Error, Result, Tensor};
use std::io::Read;
use std::time::Instant;

/// The network of `examples/lenet.py`, its layers under the names its state dict uses.
fn lenet(path: &str) -> Result<Sequential> {
    let sd = load_state_dict(path)?;
    Ok(Sequential::new()
        .push(Conv2d::load(&sd, "features.0")?)
        .push(ReLU)
        .push(MaxPool2d::new([2, 2]))
        .push(Conv2d::load(&sd, "features.3")?)
        .push(ReLU)
        .push(MaxPool2d::new([2, 2]))
        .push(Flatten::new())
        .push(Linear::load(&sd, "classifier.1")?)
        .push(ReLU)
        .push(Linear::load(&sd, "classifier.3")?)
        .push(ReLU)
        .push(Linear::load(&sd, "classifier.5")?))
}

/// A gzipped IDX file's payload after its `header` bytes.
fn idx(path: &str, header: usize) -> Result<Vec<u8>> {
    let fail = |e: std::io::Error| Error::Runtime(format!("{path}: {e}"));
    let mut bytes = Vec::new();
    GzDecoder::new(std::fs::File::open(path).map_err(fail)?)
        .read_to_end(&mut bytes)
        .map_err(fail)?;
    bytes
        .get(header..)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| Error::Runtime(format!("{path}: shorter than its IDX header")))
}

/// `count` 28×28 images as `lenet.py` feeds them: `[count, 3, 32, 32]` float32.
fn preprocess(pixels: &[u8], count: usize) -> Tensor {
    let (mean, std) = (0.2860f32, 0.3530f32);
    let mut x = vec![-mean / std; count * 3 * 32 * 32];
    for (i, image) in pixels.chunks_exact(28 * 28).take(count).enumerate() {
        for c in 0..3 {
            let plane = &mut x[(i * 3 + c) * 32 * 32..][..32 * 32];
            for (r, row) in image.chunks_exact(28).enumerate() {
                for (col, &p) in row.iter().enumerate() {
                    plane[(r + 2) * 32 + col + 2] = (p as f32 / 255.0 - mean) / std;
                }
            }
        }
    }
    Tensor::from_vec(x, &[count, 3, 32, 32])
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let weights = args.get(1).map_or("lenet.pt", String::as_str);
    let data = args
        .get(2)
        .map_or("/usr/share/datasets/fashion-mnist", String::as_str);
    let model = lenet(weights)?;
    let images = idx(&format!("{data}/t10k-images-idx3-ubyte.gz"), 16)?;
    let labels = idx(&format!("{data}/t10k-labels-idx1-ubyte.gz"), 8)?;
    let n = labels.len().min(images.len() / (28 * 28));
    let start = Instant::now();
    let mut correct = 0;
    for first in (0..n).step_by(256) {
        let count = 256.min(n - first);
        let x = preprocess(&images[first * 28 * 28..], count);
        let predicted = model.forward(&x)?.argmax_argmin(Some(1), false, true)?;
        correct += predicted
            .to_vec::<i64>()?
            .iter()
            .zip(&labels[first..first + count])
            .filter(|(p, &l)| **p == l as i64)
            .count();
    }
    println!(
        "Test accuracy: {:.2}% on {n} images ({:.2} s, from {weights})",
        100.0 * correct as f64 / n as f64,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
