"""DCGAN on Fashion-MNIST at 28x28, written as a PyTorch user would.

The PyTorch DCGAN tutorial scaled to 28x28 greyscale images, with ``import rustorch as torch``.
The generator maps a 100-d noise vector to an image with transposed convolutions, batch norm
and ReLU (1x1 -> 7x7 -> 14x14 -> 28x28, tanh output); the discriminator mirrors it with
stride-2 convolutions, LeakyReLU(0.2) and batch norm, and a sigmoid; both train with BCE and
Adam(lr=2e-4, betas=(0.5, 0.999)) from the tutorial's ``weights_init`` (N(0, 0.02)):

    python examples/dcgan.py                        # 1 epoch on /usr/share/datasets/fashion-mnist
    python examples/dcgan.py --epochs 5 --out pictures
    python examples/dcgan.py --epochs 1 --limit 3200 --ngf 32 --ndf 32 --device cpu  # quick

It writes ``dcgan_samples.png`` (an 8x8 grid generated from a fixed noise batch, written with
NumPy and zlib) and, when matplotlib is installed, ``dcgan_loss.png`` to ``--out``, and prints
the mean D and G losses of the last epoch.
"""

from __future__ import annotations

import argparse
import math
import os
import time

import rustorch as torch
from _shared import make_grid, save_png
from rustorch import nn
from rustorch.utils.data import DataLoader, Subset
from rustorch.vision import datasets, transforms

try:  # optional progress bar
    from tqdm import tqdm
except ImportError:  # pragma: no cover - depends on the environment
    tqdm = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist",
                        help="directory with the Fashion-MNIST IDX files")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--nz", type=int, default=100, help="size of the latent vector")
    parser.add_argument("--ngf", type=int, default=64, help="generator feature-map width")
    parser.add_argument("--ndf", type=int, default=64, help="discriminator feature-map width")
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N training images only")
    parser.add_argument("--seed", type=int, default=999)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=".", help="folder for the pictures")
    return parser.parse_args()


# custom weights initialization called on ``netG`` and ``netD`` (the tutorial's)
def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self, nz=100, ngf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            # input is Z, going into a convolution
            nn.ConvTranspose2d(nz, ngf * 4, 7, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            # state size. ``(ngf*4) x 7 x 7``
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            # state size. ``(ngf*2) x 14 x 14``
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
            # state size. ``(nc) x 28 x 28``
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self, ndf=64, nc=1):
        super().__init__()
        self.main = nn.Sequential(
            # input is ``(nc) x 28 x 28``
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. ``(ndf) x 14 x 14``
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            # state size. ``(ndf*2) x 7 x 7``
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input)


def plot_losses(path, G_losses, D_losses):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not installed: not writing the loss curve to {path}")
        return
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.set_title("Generator and Discriminator Loss During Training")
    ax.plot(G_losses, lw=0.6, label="G")
    ax.plot(D_losses, lw=0.6, label="D")
    ax.set_xlabel("iterations")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"Saved the loss curves to {path}")


def main():
    args = parse_args()
    torch.manual_seed(args.seed)
    device = args.device
    print(f"Using {device} device")

    # Images scaled to [-1, 1], the range of the generator's tanh.
    dataset = datasets.FashionMNIST(args.data, train=True, download=False,
                                    transform=transforms.Compose([
                                        transforms.ToTensor(),
                                        transforms.Normalize((0.5,), (0.5,)),
                                    ]))
    if args.limit is not None:
        dataset = Subset(dataset, range(min(args.limit, len(dataset))))
    dataloader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True)

    netG = Generator(args.nz, args.ngf).to(device)
    netG.apply(weights_init)
    print(netG)
    netD = Discriminator(args.ndf).to(device)
    netD.apply(weights_init)
    print(netD)

    criterion = nn.BCELoss()
    # A fixed batch of latent vectors to visualize the generator's progression.
    fixed_noise = torch.randn(64, args.nz, 1, 1, device=device)
    real_label = 1.0
    fake_label = 0.0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=args.lr, betas=(args.beta1, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=args.lr, betas=(args.beta1, 0.999))

    G_losses, D_losses = [], []
    epoch_means = (math.nan, math.nan, math.nan, math.nan)
    print("Starting Training Loop...")
    start = time.perf_counter()
    for epoch in range(args.epochs):
        batches = dataloader
        if tqdm is not None:
            batches = tqdm(dataloader, desc=f"epoch {epoch + 1}", unit="batch", leave=False)
        sums = [0.0, 0.0, 0.0, 0.0]
        epoch_start = time.perf_counter()
        for i, (data, _) in enumerate(batches):
            ############################
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            ###########################
            ## Train with all-real batch
            netD.zero_grad()
            real_cpu = data.to(device)
            b_size = real_cpu.size(0)
            label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
            output = netD(real_cpu).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            ## Train with all-fake batch
            noise = torch.randn(b_size, args.nz, 1, 1, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            ############################
            # (2) Update G network: maximize log(D(G(z)))
            ###########################
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for generator cost
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()

            G_losses.append(errG.item())
            D_losses.append(errD.item())
            for k, v in enumerate((D_losses[-1], G_losses[-1], D_x, D_G_z2)):
                sums[k] += v
            if tqdm is not None and i % 10 == 0:
                batches.set_postfix(Loss_D=f"{D_losses[-1]:.3f}", Loss_G=f"{G_losses[-1]:.3f}",
                                    D_x=f"{D_x:.3f}", D_G_z=f"{D_G_z1:.3f}/{D_G_z2:.3f}",
                                    refresh=False)
        n = len(dataloader)
        epoch_means = tuple(s / n for s in sums)
        print(f"[{epoch + 1}/{args.epochs}] {n} batches in {time.perf_counter() - epoch_start:.1f}"
              f" s\tLoss_D: {epoch_means[0]:.4f}\tLoss_G: {epoch_means[1]:.4f}"
              f"\tD(x): {epoch_means[2]:.4f}\tD(G(z)): {epoch_means[3]:.4f}  (epoch means)")
    elapsed = time.perf_counter() - start

    os.makedirs(args.out, exist_ok=True)
    with torch.no_grad():  # as in the tutorial, batch norm stays in training mode
        samples = netG(fixed_noise).detach().cpu().numpy()
    samples_path = os.path.join(args.out, "dcgan_samples.png")
    save_png(samples_path, make_grid((samples + 1.0) / 2.0, nrow=8))
    print(f"Saved 64 generated images to {samples_path}")
    plot_losses(os.path.join(args.out, "dcgan_loss.png"), G_losses, D_losses)
    print(f"Final losses (last epoch mean): Loss_D {epoch_means[0]:.4f} Loss_G "
          f"{epoch_means[1]:.4f} D(x) {epoch_means[2]:.4f} D(G(z)) {epoch_means[3]:.4f} "
          f"({args.epochs} epoch(s), {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
