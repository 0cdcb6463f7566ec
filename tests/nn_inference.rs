//! The Rust inference layers (`rustorch::nn`) against PyTorch: `tests/data/nn_fixture.safetensors`
//! holds small PyTorch models' weights, inputs and outputs (written by
//! `scripts/make_nn_fixture.py`); each model is rebuilt here from its state dict and must
//! give PyTorch's outputs.

use rustorch::nn::{
    load_pytorch, load_safetensors, load_state_dict, AvgPool2d, BatchNorm2d, Conv2d, Embedding,
    Flatten, LayerNorm, Linear, MaxPool2d, Module, MultiheadAttention, ReLU, Recurrent, Sequential,
    StateDict, Tanh, TransformerEncoderLayer,
};
use rustorch::Tensor;

fn fixture() -> StateDict {
    load_safetensors(data("nn_fixture.safetensors")).expect("the fixture loads")
}

fn data(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Same dtype, shape and values (compared as float64; every fixture dtype converts exactly).
fn assert_same(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let as_f64 = |t: &Tensor| {
        t.to_dtype(rustorch::DType::F64)
            .unwrap()
            .to_vec::<f64>()
            .unwrap()
    };
    assert_eq!(as_f64(got), as_f64(want), "{what}: values");
}

#[test]
fn pytorch_checkpoints_load_as_the_safetensors_they_match() {
    let sd = fixture();
    // torch.save of {"model": state, "view": weight.t()[1:], "epoch": 3, ...}.
    let pt = load_pytorch(data("nn_fixture_torch.pt")).unwrap();
    for key in sd.keys() {
        let got = pt.get(&format!("model.{key}")).unwrap();
        assert_same(key, got, sd.get(key).unwrap());
    }
    let want = sd.get("cnn.7.weight").unwrap().t().unwrap();
    let want = want.narrow(0, 1, want.shape()[0] - 1).unwrap();
    assert_same("view", pt.get("view").unwrap(), &want);
    let expected: Vec<String> = sd
        .keys()
        .map(|k| format!("model.{k}"))
        .chain(["view".to_string()])
        .collect();
    let mut keys: Vec<String> = pt.keys().map(str::to_string).collect();
    keys.sort();
    let mut expected = expected;
    expected.sort();
    assert_eq!(keys, expected, "only the tensors, under dotted keys");
    // rustorch.save of the CNN's tensors, read by the format-sniffing loader; the model
    // built from it gives PyTorch's output.
    let rt = load_state_dict(data("nn_fixture_rustorch.pt")).unwrap();
    let cnn: Vec<&str> = sd.keys().filter(|k| k.starts_with("cnn.")).collect();
    assert_eq!(rt.keys().collect::<Vec<_>>(), cnn);
    for key in cnn {
        assert_same(key, rt.get(key).unwrap(), sd.get(key).unwrap());
    }
    let y = cnn_model(&rt)
        .forward(rt.get("cnn.input").unwrap())
        .unwrap();
    assert_close(
        "cnn from rustorch.save",
        &y,
        sd.get("cnn.expected").unwrap(),
        1e-5,
    );
    assert!(load_state_dict(data("nn_fixture.safetensors")).is_ok());
}

/// `got` has `want`'s shape and values to `tol` (absolute, relative to `want`'s scale).
fn assert_close(what: &str, got: &Tensor, want: &Tensor, tol: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{what}: element {i}: got {a}, PyTorch {b}"
        );
    }
}

/// The fixture's CNN (`cnn.*`), rebuilt from a state dict.
fn cnn_model(sd: &StateDict) -> Sequential {
    Sequential::new()
        .push(Conv2d::load(sd, "cnn.0").unwrap().padding([1, 1]))
        .push(BatchNorm2d::load(sd, "cnn.1").unwrap())
        .push(ReLU)
        .push(MaxPool2d::new([2, 2]))
        .push(Conv2d::load(sd, "cnn.4").unwrap().stride([2, 2]).groups(2))
        .push(AvgPool2d::new([2, 2]))
        .push(Flatten::new())
        .push(Linear::load(sd, "cnn.7").unwrap())
        .push(Tanh)
        .push(LayerNorm::load(sd, "cnn.9").unwrap())
}

#[test]
fn a_cnn_matches_pytorch() {
    let sd = fixture();
    let y = cnn_model(&sd)
        .forward(sd.get("cnn.input").unwrap())
        .unwrap();
    assert_close("cnn", &y, sd.get("cnn.expected").unwrap(), 1e-5);
}

#[test]
fn an_embedding_and_recurrent_stacks_match_pytorch() {
    let sd = fixture();
    let seq = Embedding::load(&sd, "emb")
        .unwrap()
        .forward(sd.get("emb.input").unwrap())
        .unwrap();
    assert_close("embedding", &seq, sd.get("emb.expected").unwrap(), 0.0);
    let stacks = [
        ("lstm", Recurrent::lstm(&sd, "lstm", 2, true)),
        ("gru", Recurrent::gru(&sd, "gru", 2, true)),
        ("rnn", Recurrent::rnn(&sd, "rnn", 1, false, true)),
    ];
    for (name, stack) in stacks {
        let (out, h, c) = stack
            .unwrap()
            .batch_first(true)
            .run(&seq, None, None)
            .unwrap();
        let want = |k: &str| sd.get(&format!("{name}.{k}")).unwrap().clone();
        assert_close(name, &out, &want("expected"), 1e-5);
        assert_close(name, &h, &want("expected_h"), 1e-5);
        assert_eq!(c.is_some(), name == "lstm", "{name}: cell state");
        if let Some(c) = c {
            assert_close(name, &c, &want("expected_c"), 1e-5);
        }
    }
}

#[test]
fn attention_and_transformer_encoder_layers_match_pytorch() {
    let sd = fixture();
    let (src, mask, padding) = (
        sd.get("enc.input").unwrap(),
        sd.get("enc.mask").unwrap(),
        sd.get("enc.padding").unwrap(),
    );
    for (name, norm_first, gelu) in [("enc", false, false), ("enc_pre", true, true)] {
        let layer = TransformerEncoderLayer::load(&sd, name, 2)
            .unwrap()
            .batch_first(true)
            .norm_first(norm_first)
            .gelu(gelu);
        let y = layer.run(src, Some(mask), Some(padding)).unwrap();
        assert_close(name, &y, sd.get(&format!("{name}.expected")).unwrap(), 1e-5);
    }
    let mha = MultiheadAttention::load(&sd, "mha", 4).unwrap();
    let q = sd.get("mha.input").unwrap();
    let y = mha
        .attend(q, q, q, None, Some(sd.get("mha.mask").unwrap()))
        .unwrap();
    assert_close("mha", &y, sd.get("mha.expected").unwrap(), 1e-5);
}

#[test]
fn missing_or_misshapen_weights_are_errors_naming_them() {
    let sd = fixture();
    let err = Linear::load(&sd, "cnn.8").err().expect("no such layer");
    assert!(err.to_string().contains("'cnn.8.weight'"), "{err}");
    let err = Conv2d::load(&sd, "cnn.7")
        .err()
        .expect("a linear weight is 2-D");
    assert!(err.to_string().contains("expected 4 dims"), "{err}");
    let err = Recurrent::lstm(&sd, "gru", 2, true)
        .err()
        .expect("GRU weights are 3 gates");
    assert!(err.to_string().contains("gate blocks"), "{err}");
    // A wrong input gets the op's error, not a panic.
    let conv = Conv2d::load(&sd, "cnn.0").unwrap();
    let err = conv
        .forward(&Tensor::from_vec(vec![0f32; 2 * 5 * 5], &[1, 2, 5, 5]))
        .expect_err("2 channels for a 3-channel layer");
    assert!(
        err.to_string()
            .contains("expected input[1, 2, 5, 5] to have 3 channels"),
        "{err}"
    );
}
