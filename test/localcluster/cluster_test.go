package localcluster

import (
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

func TestWithStageDelay(t *testing.T) {
	stage := "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-ready\nspec:\n  resourceRef:\n    apiGroup: v1\n    kind: Pod\n  next:\n    statusTemplate: |\n      phase: Running\n"
	got, err := withStageDelay(stage, 2500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Spec struct {
			Delay struct {
				DurationMilliseconds int64 `json:"durationMilliseconds"`
			} `json:"delay"`
			ResourceRef struct {
				Kind string `json:"kind"`
			} `json:"resourceRef"`
			Next struct {
				StatusTemplate string `json:"statusTemplate"`
			} `json:"next"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(got), &parsed); err != nil {
		t.Fatalf("the delayed stage is not the stage's YAML: %v\n%s", err, got)
	}
	if parsed.Spec.Delay.DurationMilliseconds != 2500 || parsed.Spec.ResourceRef.Kind != "Pod" || parsed.Spec.Next.StatusTemplate != "phase: Running\n" {
		t.Errorf("delayed stage = %+v\n%s", parsed.Spec, got)
	}
	if _, err := withStageDelay(got, time.Second); err == nil {
		t.Error("a stage with a delay was given a second one")
	}
	if _, err := withStageDelay("kind: Stage\n", time.Second); err == nil {
		t.Error("a stage without a spec was accepted")
	}
}
