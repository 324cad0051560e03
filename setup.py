from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="resume-extractor",
    version="0.1.0",
    description="Batch field extraction (education, industry, major) from résumé-like documents with GlobalPointer",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["extractor", "extractor.*"]),
    python_requires=">=3.10",
    install_requires=[
        # Install torch==2.13.0 (CPU build) first; this range accepts it and so pulls nothing more.
        "torch>=2.2,<2.14",
        "transformers>=4.40",
        "safetensors>=0.4",
        "pandas>=2.0",
        "pyarrow>=14",
        "click>=8.1",
        "tqdm>=4.60",
        "sqlalchemy>=2.0",
        "alembic>=1.12",
        "pyyaml>=6.0",
        # Dictionary word segmentation for the BiLSTM's word-boundary feature (pure Python, no download).
        "jieba>=0.42",
        # PostgreSQL sources and sinks (SQLite needs nothing extra).
        "psycopg[binary]>=3.1",
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6"],
        # ONNX export and ONNX Runtime inference (`extractor export`, runtime: onnx-int8).
        "onnx": ["onnx>=1.15", "onnxruntime>=1.17"],
        # `extractor run PIPELINE --engine ray`: the same pipeline on a Ray cluster (Ray Data; tested with 2.60).
        # aiohttp: Ray Data probes fsspec's HTTP filesystem while resolving paths; without aiohttp that import
        # fails every time, and two threads failing it at once can raise ImportError out of the read.
        "ray": ["ray[data]>=2.9", "aiohttp>=3.9"],
    },
    entry_points={"console_scripts": ["extractor=extractor.cli:main"]},
)
