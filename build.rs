//! Compiles the public gRPC contract with a pure-Rust protobuf compiler (protox), so building
//! needs no system `protoc`; and turns on the Postgres run of the integration tests when
//! `BUCKETBUS_TEST_POSTGRES_URL` names a database.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/bucketbus/v1/bucketbus.proto";
    println!("cargo:rerun-if-changed={proto}");
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo::rustc-check-cfg=cfg(bucketbus_pg_it)");
    println!("cargo::rerun-if-env-changed=BUCKETBUS_TEST_POSTGRES_URL");
    if std::env::var_os("BUCKETBUS_TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=bucketbus_pg_it");
    }
    let descriptors = protox::compile([proto], ["proto"])?;
    // The descriptors (imports included) for gRPC server reflection.
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("bucketbus_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    tonic_prost_build::configure()
        .codec_path("crate::grpc::codec::ValidatingCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
