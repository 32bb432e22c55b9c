import Testing

extension Tag {
    /// Tests that run a real model fetched through Swerve's store (SmolLM2, Gemma 3) or a peer built for
    /// this machine: `swift test --skip tag:realModel` is the fast unit-only loop (README).
    @Tag public static var realModel: Self
}

extension Trait where Self == ConditionTrait {
    /// Skips the test or suite when `SWERVE_SKIP_REAL_MODELS=1` (the fast unit-only loop); with it, a test
    /// that needs a real model is reported as skipped, never as passed.
    public static var needsRealModels: Self {
        .disabled(if: TestModels.skipped, "SWERVE_SKIP_REAL_MODELS is set: this needs a real model")
    }
}
