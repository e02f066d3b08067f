package pool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	hotelv1alpha1 "github.com/innkeeper-dev/innkeeper/api/v1alpha1"
)

// keepConfigMaps is how many of an object's configurations stay in the cluster, the ones in use
// included, so that a rollback finds its ConfigMap.
const keepConfigMaps = 3

// Kind is one innkeeper kind and the component it configures.
type Kind struct {
	// Component renders the configuration and builds the rollout pod.
	Component Component
	// NewObject returns an empty object of the kind.
	NewObject func() Object
	// NewList returns an empty list of the kind.
	NewList func() client.ObjectList
}

// Reconciler reconciles the objects of one kind: it renders, applies and reports. Build it with
// NewReconciler and register it with SetupWithManager.
type Reconciler struct {
	client client.Client
	// nodes reads the selected Nodes from the Node informer's store.
	nodes *nodeStore
	// apiReader reads foreign DaemonSets whole and fresh before the engine changes them (the cache
	// holds them slimmed, and may lag).
	apiReader client.Reader
	kind      Kind
	gvk       schema.GroupVersionKind
	namespace string
	nodePods  NodePods
	recorder  recorder.EventRecorder
	now       func() metav1.Time
	// verified remembers the live DaemonSets and ConfigMaps found up to date (see upToDate).
	verified sync.Map
	// computed holds, by object name, the status the last reconcile computed: an update that only
	// brings the object's status to it needs no reconcile (see notOwnStatusWrite).
	computed sync.Map
}

// NewReconciler returns a Reconciler for kind whose workloads live in namespace, their pods
// scheduled as nodePods say.
func NewReconciler(mgr ctrl.Manager, kind Kind, namespace string, nodePods NodePods) (*Reconciler, error) {
	gvk, err := apiutil.GVKForObject(kind.NewObject(), mgr.GetScheme())
	if err != nil {
		return nil, fmt.Errorf("look up the kind of %s objects: %w", kind.Component.Name(), err)
	}
	return &Reconciler{
		client:    mgr.GetClient(),
		nodes:     nodeStoreOf(mgr.GetCache()),
		apiReader: mgr.GetAPIReader(),
		kind:      kind,
		gvk:       gvk,
		namespace: namespace,
		nodePods:  nodePods,
		recorder:  mgr.GetEventRecorder("innkeeper"),
		// Whole seconds, as the API server stores condition times: a status read back then equals
		// the one computed (see notOwnStatusWrite).
		now: func() metav1.Time { return metav1.NewTime(time.Now().Truncate(time.Second)) },
	}, nil
}

// Reconcile brings one object's ConfigMap and DaemonSet to what its spec renders and writes what
// it observed into its status.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.kind.NewObject()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			forgetPoolMetrics(r.gvk.Kind, req.Name)
			r.computed.Delete(req.Name)
			r.verified.Delete("ConfigMap/" + req.Name)
			r.verified.Delete("DaemonSet/" + req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("get %s %s: %w", r.gvk.Kind, req.Name, err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		// Owner references hand the ConfigMaps and the DaemonSet to the garbage collector, unless
		// the object asked to orphan them.
		return ctrl.Result{}, r.cleanUp(ctx, obj)
	}
	if err := r.holdForCleanUp(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	component := r.kind.Component.Name()

	o := observed{
		generation:     obj.GetGeneration(),
		paused:         obj.PoolSpec().Rollout.Paused,
		maxUnavailable: maxUnavailable(obj),
		component:      component,
		nodeAgent:      r.kind.Component.NodeAgent(),
	}
	var err error
	selector, selErr := metav1.LabelSelectorAsSelector(&obj.PoolSpec().NodeSelector)
	if selErr == nil {
		if o.nodes, err = r.selectedNodes(ctx, selector); err != nil {
			return ctrl.Result{}, err
		}
	}
	if o.daemonSet, err = r.daemonSet(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	if o.daemonSet != nil {
		o.appliedHash = o.daemonSet.Spec.Template.Annotations[AnnotationHash]
	}

	inputs, missing, err := r.inputs(ctx, obj)
	if err != nil {
		return ctrl.Result{}, err
	}
	var files map[string]string
	var renderErr error
	if len(missing) == 0 {
		files, renderErr = r.kind.Component.Render(obj, inputs)
	}
	var cfg Config
	if renderErr == nil && len(missing) == 0 {
		o.desiredHash = ConfigHash(files)
		cfg = Config{Hash: o.desiredHash, ConfigMapName: configMapName(obj, component, o.desiredHash)}
	}

	switch {
	case selErr != nil:
		o.stall = &stall{reason: hotelv1alpha1.ReasonInvalidSpec, message: fmt.Sprintf(
			"spec.nodeSelector is invalid: %v. Fix it; nothing is rolled out until then.", selErr)}
	case len(missing) > 0:
		o.stall = &stall{reason: hotelv1alpha1.ReasonReferenceNotFound, message: fmt.Sprintf(
			"The spec references ConfigMaps that do not exist in namespace %s: %s. Create them; nothing is "+
				"rolled out until then, and what is rolled out stays as it is.", r.namespace, strings.Join(missing, ", "))}
	case renderErr != nil:
		o.stall = invalidSpec(component, renderErr)
	default:
		peers, err := r.peers(ctx)
		if err != nil {
			return ctrl.Result{}, err
		}
		if o.stall, o.retryErr, err = r.foreignStall(ctx, obj, o.nodes, peers); err != nil {
			return ctrl.Result{}, err
		}
		if c := poolConflict(obj, o.nodes, peers); c != nil && o.stall == nil {
			o.stall = &stall{reason: hotelv1alpha1.ReasonPoolConflict, message: fmt.Sprintf(
				"%d selected Nodes (%s) are also selected by %s %q, which is older and keeps them. Change either "+
					"nodeSelector so that the pools do not overlap; until then nothing is rolled out, and this "+
					"object's DaemonSet is removed so that two agents never manage one Node (Nodes keep what they run).",
				len(c.nodes), nameList(c.nodes), r.gvk.Kind, c.peer)}
		}
		// Two agents, or two kube-proxies, never manage one Node: a stalled pool keeps no DaemonSet.
		if o.stall != nil {
			if err := r.removeDaemonSet(ctx, o.daemonSet); err != nil {
				return ctrl.Result{}, err
			}
			o.daemonSet, o.appliedHash = nil, ""
		}
	}

	// Configurations still in use: the one the DaemonSet rolled out before this reconcile (Nodes not
	// yet updated mount it) and the ones Nodes report they run.
	inUse := append(appliedOnNodes(o.nodes, component), o.appliedHash, o.desiredHash)

	// Apply only a valid, unconflicted spec. While paused, hold the DaemonSet where it is: the
	// configuration it rolls out stays, and its update strategy turns OnDelete, so that the
	// DaemonSet controller replaces no further pod, even in the middle of a rollout.
	switch {
	case o.stall != nil:
	case !o.paused:
		changed, err := r.apply(ctx, obj, cfg, files, o.daemonSet)
		if err != nil {
			o.applyErr = err // said in status, then retried with backoff
		} else {
			o.daemonSetChanged = changed
			o.appliedHash = cfg.Hash
		}
	case o.daemonSet != nil && o.appliedHash != "":
		held := Config{Hash: o.appliedHash, ConfigMapName: configMapName(obj, component, o.appliedHash)}
		changed, err := r.applyDaemonSet(ctx, obj, held, o.daemonSet, true)
		if err != nil {
			o.applyErr = err
		} else {
			o.daemonSetChanged = changed
		}
	}
	if o.applyErr == nil {
		if err := r.pruneConfigMaps(ctx, obj, append(inUse, o.appliedHash)...); err != nil {
			return ctrl.Result{}, err
		}
	}

	status := aggregateStatus(obj.PoolStatus(), o, r.now())
	// Recorded before the write, whose update event may come back before the write returns.
	r.computed.Store(obj.GetName(), *status.DeepCopy())
	recordPoolMetrics(r.gvk.Kind, obj.GetName(), status.Nodes)
	if err := r.writeStatus(ctx, obj, status); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, errors.Join(o.applyErr, o.retryErr)
}

// foreignStall returns a stall if the component is Exclusive and a DaemonSet innkeeper does not
// manage runs it on some of the selected Nodes. An object that asks to take its Nodes over first
// keeps those DaemonSets off its pool; if that fails, it returns the stall that says so and the
// failure, for the reconcile to be retried with backoff once the status is written: a conflict
// with the DaemonSet's controller, or a policy that is lifted later, brings no event of its own.
func (r *Reconciler) foreignStall(ctx context.Context, obj Object, nodes []*corev1.Node, peers []Object) (*stall, error, error) {
	ex, ok := r.kind.Component.(Exclusive)
	if !ok || len(nodes) == 0 {
		return nil, nil, nil
	}
	dss, err := r.cachedDaemonSets(ctx)
	if err != nil {
		return nil, nil, err
	}
	own := r.namespace + "/" + daemonSetName(obj, r.kind.Component.Name())
	overlaps := foreignDaemonSets(ex, dss, nodes, own)
	if len(overlaps) > 0 && ex.TakeOver(obj) {
		for _, o := range overlaps {
			i := findDaemonSet(dss, o.daemonSet)
			updated, err := r.keepOff(ctx, client.ObjectKeyFromObject(&dss[i]), obj.GetName(), peers)
			if err != nil {
				return &stall{reason: ex.ForeignReason(), message: fmt.Sprintf(
					"Taking the pool's Nodes from DaemonSet %s failed: %v. Retried with backoff.", o.daemonSet, err)}, err, nil
			}
			dss[i] = *updated
		}
		overlaps = foreignDaemonSets(ex, dss, nodes, own)
	}
	if len(overlaps) > 0 {
		return foreignStall(ex.ForeignReason(), r.kind.Component.Name(), overlaps), nil, nil
	}
	return nil, nil, nil
}

// cachedDaemonSets returns every DaemonSet of the cluster from the cache: innkeeper's, and the
// others slimmed (see SlimDaemonSet). The slice is the caller's; the objects are the cache's, to be
// read, never modified or written back.
func (r *Reconciler) cachedDaemonSets(ctx context.Context) ([]appsv1.DaemonSet, error) {
	dss := &appsv1.DaemonSetList{}
	if err := r.client.List(ctx, dss, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list DaemonSets to look for another %s: %w", r.kind.Component.Name(), err)
	}
	return dss.Items, nil
}

// keepOff reads a foreign DaemonSet afresh (the cache holds a slimmed copy) and sets its node
// affinity to its original one narrowed to Nodes outside the pools of the objects it is kept off
// for: those its annotation names, plus adding if not empty; objects no longer among peers, or
// being deleted, drop out. It records both in annotations; with no object left it restores the
// original affinity. It returns the updated DaemonSet.
func (r *Reconciler) keepOff(ctx context.Context, key client.ObjectKey, adding string, peers []Object) (*appsv1.DaemonSet, error) {
	ds := &appsv1.DaemonSet{}
	if err := r.apiReader.Get(ctx, key, ds); err != nil {
		return nil, fmt.Errorf("get DaemonSet %s: %w", key, err)
	}
	var original *corev1.Affinity
	if raw, ok := ds.Annotations[AnnotationOriginalAffinity]; ok {
		if err := json.Unmarshal([]byte(raw), &original); err != nil {
			return nil, fmt.Errorf("read annotation %s: %w", AnnotationOriginalAffinity, err)
		}
	} else {
		original = ds.Spec.Template.Spec.Affinity.DeepCopy()
	}
	want := ds.Annotations[AnnotationTakenOverBy]
	if adding != "" {
		want = addName(want, adding)
	}
	var kept []string
	var pools []metav1.LabelSelector
	for _, p := range peers {
		if strings.Contains(","+want+",", ","+p.GetName()+",") && p.GetDeletionTimestamp().IsZero() {
			kept = append(kept, p.GetName())
			pools = append(pools, p.PoolSpec().NodeSelector)
		}
	}
	sort.Strings(kept)
	affinity, err := excludingAffinity(original, pools)
	if err != nil {
		return nil, err
	}
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	if len(kept) == 0 {
		delete(ds.Annotations, AnnotationTakenOverBy)
		delete(ds.Annotations, AnnotationOriginalAffinity)
	} else {
		raw, err := json.Marshal(original)
		if err != nil {
			return nil, err
		}
		ds.Annotations[AnnotationTakenOverBy] = strings.Join(kept, ",")
		ds.Annotations[AnnotationOriginalAffinity] = string(raw)
	}
	ds.Spec.Template.Spec.Affinity = affinity
	// An update, not a patch: it fails on a DaemonSet changed since it was read, and the reconcile
	// is retried from the new one.
	if err := r.client.Update(ctx, ds); err != nil {
		return nil, fmt.Errorf("update DaemonSet %s: %w", key, err)
	}
	log.FromContext(ctx).Info("Kept a foreign DaemonSet off pools", "daemonSet", klog.KObj(ds), "pools", kept)
	return ds, nil
}

// giveBack removes a deleted object's pool from the foreign DaemonSets it was kept off.
func (r *Reconciler) giveBack(ctx context.Context, obj Object) error {
	if _, ok := r.kind.Component.(Exclusive); !ok {
		return nil
	}
	// Read from the API server, not the cache: this object may have taken a DaemonSet over just
	// before its deletion, later than the cache has seen, and a DaemonSet missed here would stay
	// off the pool for good.
	list := &appsv1.DaemonSetList{}
	if err := r.apiReader.List(ctx, list); err != nil {
		return fmt.Errorf("list DaemonSets: %w", err)
	}
	dss := list.Items
	peers, err := r.peers(ctx)
	if err != nil {
		return err
	}
	for i := range dss {
		if !strings.Contains(","+dss[i].Annotations[AnnotationTakenOverBy]+",", ","+obj.GetName()+",") {
			continue
		}
		// obj is being deleted: it drops out.
		if _, err := r.keepOff(ctx, client.ObjectKeyFromObject(&dss[i]), "", peers); err != nil {
			return err
		}
	}
	return nil
}

// findDaemonSet returns the index of the DaemonSet namespace/name among dss, -1 if it is not there.
func findDaemonSet(dss []appsv1.DaemonSet, namespacedName string) int {
	for i := range dss {
		if dss[i].Namespace+"/"+dss[i].Name == namespacedName {
			return i
		}
	}
	return -1
}

// addName adds name to a comma-separated list.
func addName(list, name string) string {
	if list == "" {
		return name
	}
	if strings.Contains(","+list+",", ","+name+",") {
		return list
	}
	return list + "," + name
}

func (r *Reconciler) foreignReason() string {
	if ex, ok := r.kind.Component.(Exclusive); ok {
		return ex.ForeignReason()
	}
	return ""
}

// invalidSpec turns a render error into a stall whose message names the fields.
func invalidSpec(component string, err error) *stall {
	var fieldErrs field.ErrorList
	var agg interface{ Errors() []error }
	if errors.As(err, &agg) {
		for _, e := range agg.Errors() {
			var fe *field.Error
			if errors.As(e, &fe) {
				fieldErrs = append(fieldErrs, fe)
			}
		}
	}
	detail := err.Error()
	if len(fieldErrs) > 0 {
		detail = fieldErrs.ToAggregate().Error()
	}
	return &stall{reason: hotelv1alpha1.ReasonInvalidSpec, message: fmt.Sprintf(
		"The %s configuration cannot be rendered: %s. Fix the spec, or the ConfigMaps it references; what is rolled out stays as it is until then.",
		component, detail)}
}

// inputs reads the ConfigMaps a Referencing component's object references, and names the missing.
func (r *Reconciler) inputs(ctx context.Context, obj Object) (Inputs, []string, error) {
	ref, ok := r.kind.Component.(Referencing)
	if !ok {
		return Inputs{}, nil, nil
	}
	in := Inputs{ConfigMaps: map[string]map[string]string{}}
	var missing []string
	for _, name := range ref.References(obj) {
		if _, done := in.ConfigMaps[name]; done {
			continue
		}
		cm := &corev1.ConfigMap{}
		err := r.client.Get(ctx, types.NamespacedName{Namespace: r.namespace, Name: name}, cm)
		switch {
		case apierrors.IsNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return in, nil, fmt.Errorf("get ConfigMap %s/%s: %w", r.namespace, name, err)
		default:
			in.ConfigMaps[name] = cm.Data
		}
	}
	sort.Strings(missing)
	return in, missing, nil
}

// selectedNodes returns the Nodes selector selects, from the cache (see nodeStore): the cached
// objects themselves, which the engine only reads.
func (r *Reconciler) selectedNodes(ctx context.Context, selector labels.Selector) ([]*corev1.Node, error) {
	return r.nodes.selected(ctx, selector)
}

func (r *Reconciler) daemonSet(ctx context.Context, obj Object) (*appsv1.DaemonSet, error) {
	ds := &appsv1.DaemonSet{}
	key := client.ObjectKey{Namespace: r.namespace, Name: daemonSetName(obj, r.kind.Component.Name())}
	if err := r.client.Get(ctx, key, ds); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get DaemonSet %s: %w", key, err)
	}
	return ds, nil
}

// peers returns every object of the reconciler's kind, from the cache and not copied: they are
// only read (selectors, names, ages), and a Node event maps through them for every kind.
func (r *Reconciler) peers(ctx context.Context) ([]Object, error) {
	list := r.kind.NewList()
	if err := r.client.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list %s objects: %w", r.gvk.Kind, err)
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, fmt.Errorf("read %s list: %w", r.gvk.Kind, err)
	}
	peers := make([]Object, 0, len(items))
	for _, item := range items {
		if p, ok := item.(Object); ok {
			peers = append(peers, p)
		}
	}
	return peers, nil
}

// apply applies the ConfigMap, then the DaemonSet that names it, each only if it differs from what
// innkeeper last applied, so that a steady state costs no request. It reports whether the
// DaemonSet's spec changed.
func (r *Reconciler) apply(ctx context.Context, obj Object, cfg Config, files map[string]string,
	current *appsv1.DaemonSet) (bool, error) {
	component := r.kind.Component.Name()
	cm := desiredConfigMap(obj, r.gvk, component, r.namespace, cfg, files)
	cmHash := specHash(cm)
	cm.WithAnnotations(map[string]string{AnnotationSpecHash: cmHash})
	live := &corev1.ConfigMap{}
	err := r.client.Get(ctx, client.ObjectKey{Namespace: r.namespace, Name: cfg.ConfigMapName}, live)
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return false, fmt.Errorf("get ConfigMap %s: %w", cfg.ConfigMapName, err)
	}
	if live == nil || !r.upToDate("ConfigMap/"+obj.GetName(), live, cm, cmHash) {
		if err := r.client.Apply(ctx, cm, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return false, fmt.Errorf("apply ConfigMap %s: %w", cfg.ConfigMapName, err)
		}
	}

	return r.applyDaemonSet(ctx, obj, cfg, current, false)
}

// applyDaemonSet applies the DaemonSet that rolls cfg out, or holds it (paused), if it differs from
// what innkeeper last applied. It reports whether the DaemonSet's spec changed.
func (r *Reconciler) applyDaemonSet(ctx context.Context, obj Object, cfg Config, current *appsv1.DaemonSet, paused bool) (bool, error) {
	ds := desiredDaemonSet(obj, r.gvk, r.kind.Component.Name(), r.namespace, cfg, r.kind.Component.PodSpec(obj, cfg), r.nodePods, paused)
	dsHash := specHash(ds)
	ds.WithAnnotations(map[string]string{AnnotationSpecHash: dsHash})
	if current != nil && r.upToDate("DaemonSet/"+obj.GetName(), current, ds, dsHash) {
		return false, nil
	}
	if err := r.client.Apply(ctx, ds, client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return false, fmt.Errorf("apply DaemonSet %s: %w", *ds.Name, err)
	}
	// The apply answers with the object as stored: a new generation means a new spec to roll out.
	changed := current == nil || ds.Generation == nil || *ds.Generation != current.Generation
	if changed {
		log.FromContext(ctx).Info("Applied DaemonSet", "daemonSet", klog.KRef(r.namespace, *ds.Name), "configHash", cfg.Hash,
			"paused", paused)
	}
	return changed, nil
}

// needsCleanUp reports whether deleting obj takes work beyond the garbage collector's: orphaning
// its workloads, or giving back Nodes taken from a foreign DaemonSet.
func (r *Reconciler) needsCleanUp(obj Object) bool {
	if o, ok := r.kind.Component.(Orphaning); ok && o.Orphan(obj) {
		return true
	}
	ex, ok := r.kind.Component.(Exclusive)
	return ok && ex.TakeOver(obj)
}

// holdForCleanUp adds the finalizer to an object whose deletion needs clean-up, and removes it
// from one that no longer does.
func (r *Reconciler) holdForCleanUp(ctx context.Context, obj Object) error {
	want := r.needsCleanUp(obj)
	if want == controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	original := obj.DeepCopyObject().(Object)
	if want {
		controllerutil.AddFinalizer(obj, Finalizer)
	} else {
		controllerutil.RemoveFinalizer(obj, Finalizer)
	}
	if err := r.client.Patch(ctx, obj, client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("update the finalizers of %s %s: %w", r.gvk.Kind, obj.GetName(), err)
	}
	return nil
}

// cleanUp does what a deleted object asked for before it lets it go: gives back the Nodes it took
// from foreign DaemonSets and, with an Orphan policy, removes its owner references from its
// DaemonSet and ConfigMaps, so that the garbage collector leaves them running.
func (r *Reconciler) cleanUp(ctx context.Context, obj Object) error {
	if !controllerutil.ContainsFinalizer(obj, Finalizer) {
		return nil
	}
	if err := r.giveBack(ctx, obj); err != nil {
		return err
	}
	if o, ok := r.kind.Component.(Orphaning); ok && o.Orphan(obj) {
		if err := r.orphan(ctx, obj); err != nil {
			return err
		}
	}
	original := obj.DeepCopyObject().(Object)
	controllerutil.RemoveFinalizer(obj, Finalizer)
	if err := r.client.Patch(ctx, obj, client.MergeFrom(original)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("remove the finalizer of %s %s: %w", r.gvk.Kind, obj.GetName(), err)
	}
	return nil
}

// orphan removes an object's owner references from its DaemonSet and ConfigMaps.
func (r *Reconciler) orphan(ctx context.Context, obj Object) error {
	component := r.kind.Component.Name()
	var owned []client.Object
	if ds, err := r.daemonSet(ctx, obj); err != nil {
		return err
	} else if ds != nil {
		owned = append(owned, ds)
	}
	cms := &corev1.ConfigMapList{}
	if err := r.client.List(ctx, cms, client.InNamespace(r.namespace), client.MatchingLabels(selectorLabels(obj, component))); err != nil {
		return fmt.Errorf("list ConfigMaps: %w", err)
	}
	for i := range cms.Items {
		owned = append(owned, &cms.Items[i])
	}
	for _, o := range owned {
		if len(o.GetOwnerReferences()) == 0 {
			continue
		}
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"ownerReferences":null}}`))
		if err := r.client.Patch(ctx, o, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("release %s from %s %s: %w", o.GetName(), r.gvk.Kind, obj.GetName(), err)
		}
	}
	log.FromContext(ctx).Info("Orphaned the workloads of a deleted object", "objects", len(owned))
	return nil
}

// removeDaemonSet deletes an object's DaemonSet, if there is one.
func (r *Reconciler) removeDaemonSet(ctx context.Context, ds *appsv1.DaemonSet) error {
	if ds == nil {
		return nil
	}
	if err := r.client.Delete(ctx, ds, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete DaemonSet %s: %w", ds.Name, err)
	}
	log.FromContext(ctx).Info("Removed the DaemonSet of a conflicting pool", "daemonSet", klog.KObj(ds))
	return nil
}

// appliedOnNodes returns the configuration hashes that the component's agents report on the Nodes.
func appliedOnNodes(nodes []*corev1.Node, component string) []string {
	key := hotelv1alpha1.AgentAnnotation(component, hotelv1alpha1.AgentAnnotationConfig)
	var hashes []string
	for i := range nodes {
		if h := nodes[i].Annotations[key]; h != "" {
			hashes = append(hashes, h)
		}
	}
	return hashes
}

// upToDate reports whether live is what innkeeper last applied and nobody changed since: its
// spec-hash annotation is desired's hash (so a field innkeeper stopped setting is noticed too), and
// it still holds every field innkeeper sets, with the same values. live may hold more: fields the
// API server defaults (a probe's timeouts, a fieldRef's apiVersion) and fields others set are not
// drift. (Comparing with the live object rather than with the fields innkeeper owns, extracted from
// managedFields, spares the manager the server-side-apply type parser, a few MiB of heap.)
func upToDate(live client.Object, desired any, hash string) bool {
	if live.GetAnnotations()[AnnotationSpecHash] != hash {
		return false
	}
	want, err := toJSONMap(desired)
	if err != nil {
		return false
	}
	// Objects from the cache carry no apiVersion and kind.
	delete(want, "apiVersion")
	delete(want, "kind")
	return jsonSubset(want, live)
}

// upToDate is the package's upToDate, remembered under key (the kind of live and the name of the
// object it belongs to): a live object whose resourceVersion was already found to hold what
// innkeeper applies, under the same spec-hash, still does (any change to it changes its
// resourceVersion). This spares every reconcile two JSON round trips.
func (r *Reconciler) upToDate(key string, live client.Object, desired any, hash string) bool {
	verified := verification{uid: live.GetUID(), resourceVersion: live.GetResourceVersion(), hash: hash}
	if v, ok := r.verified.Load(key); ok && v.(verification) == verified {
		return true
	}
	if !upToDate(live, desired, hash) {
		return false
	}
	r.verified.Store(key, verified)
	return true
}

// verification is an object's state found up to date: its identity, version, and the spec-hash
// of what innkeeper applies.
type verification struct {
	uid             types.UID
	resourceVersion string
	hash            string
}

func toJSONMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	return m, json.Unmarshal(data, &m)
}

// specHash hashes what innkeeper applies, so that a field it stops setting is noticed too.
func specHash(desired any) string {
	data, err := json.Marshal(desired)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

// jsonSubset reports whether every field of want is in got with an equal value, comparing their
// JSON forms: maps by key; lists of named entries (containers, env, volumes, volume mounts) by
// name, so that entries others added (a sidecar, an env var) do not count; other lists element by
// element.
func jsonSubset(want, got any) bool {
	var w, g any
	for _, c := range []struct {
		in  any
		out *any
	}{{want, &w}, {got, &g}} {
		data, err := json.Marshal(c.in)
		if err != nil {
			return false
		}
		if err := json.Unmarshal(data, c.out); err != nil {
			return false
		}
	}
	return subset(w, g)
}

func subset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if gv, ok := g[k]; !ok || !subset(v, gv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok {
			return false
		}
		if key := mergeKey(w); key != "" {
			byKey := map[any]any{}
			for _, e := range g {
				if m, ok := e.(map[string]any); ok {
					byKey[m[key]] = m
				}
			}
			for _, e := range w {
				if ge, ok := byKey[e.(map[string]any)[key]]; !ok || !subset(e, ge) {
					return false
				}
			}
			return true
		}
		if len(g) != len(w) {
			return false
		}
		for i := range w {
			if !subset(w[i], g[i]) {
				return false
			}
		}
		return true
	default:
		return equality.Semantic.DeepEqual(want, got)
	}
}

// mergeKey returns the key that names every entry of a list, "name" or "mountPath", or "" if the
// list is not one of named entries.
func mergeKey(list []any) string {
	for _, key := range []string{"name", "mountPath"} {
		named := len(list) > 0
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				named = false
				break
			}
			if _, ok := m[key].(string); !ok {
				named = false
				break
			}
		}
		if named {
			return key
		}
	}
	return ""
}

// pruneConfigMaps deletes an object's ConfigMaps beyond the keepConfigMaps newest, never one that
// is rolled out or about to be.
func (r *Reconciler) pruneConfigMaps(ctx context.Context, obj Object, inUse ...string) error {
	list := &corev1.ConfigMapList{}
	if err := r.client.List(ctx, list, client.InNamespace(r.namespace),
		client.MatchingLabels(selectorLabels(obj, r.kind.Component.Name()))); err != nil {
		return fmt.Errorf("list ConfigMaps: %w", err)
	}
	for _, name := range configMapsToPrune(list.Items, inUse) {
		cm := &corev1.ConfigMap{}
		cm.Name, cm.Namespace = name, r.namespace
		if err := r.client.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete old ConfigMap %s: %w", name, err)
		}
	}
	return nil
}

// configMapsToPrune returns the names of the ConfigMaps to delete: all but the keepConfigMaps
// newest (by the object generation that rendered them, then creation time), keeping those whose
// configuration hash is in inUse whatever their age.
func configMapsToPrune(cms []corev1.ConfigMap, inUse []string) []string {
	used := map[string]bool{}
	for _, h := range inUse {
		if h != "" {
			used[h] = true
		}
	}
	sorted := append([]corev1.ConfigMap(nil), cms...)
	generation := func(cm *corev1.ConfigMap) int64 {
		g, _ := strconv.ParseInt(cm.Annotations[AnnotationGeneration], 10, 64)
		return g
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		gi, gj := generation(&sorted[i]), generation(&sorted[j])
		if gi != gj {
			return gi > gj
		}
		return sorted[j].CreationTimestamp.Before(&sorted[i].CreationTimestamp)
	})
	kept := 0
	for i := range sorted {
		if used[sorted[i].Annotations[AnnotationHash]] {
			kept++
		}
	}
	var prune []string
	for i := range sorted {
		if used[sorted[i].Annotations[AnnotationHash]] {
			continue
		}
		if kept < keepConfigMaps {
			kept++
			continue
		}
		prune = append(prune, sorted[i].Name)
	}
	return prune
}

// writeStatus writes status if it differs from obj's, and records an Event for each condition
// that changed.
func (r *Reconciler) writeStatus(ctx context.Context, obj Object, status hotelv1alpha1.PoolStatus) error {
	if equality.Semantic.DeepEqual(*obj.PoolStatus(), status) {
		return nil
	}
	previous := obj.PoolStatus().Conditions
	original := obj.DeepCopyObject().(Object)
	*obj.PoolStatus() = status
	if err := r.client.Status().Patch(ctx, obj, client.MergeFrom(original)); err != nil {
		return fmt.Errorf("write status: %w", err)
	}
	for _, c := range status.Conditions {
		if old := meta.FindStatusCondition(previous, c.Type); old != nil && old.Status == c.Status {
			continue
		} else if old == nil && !abnormal(c) {
			continue // the first status of an object is news only where something is wrong
		}
		eventType := corev1.EventTypeNormal
		if abnormal(c) {
			eventType = corev1.EventTypeWarning
		}
		r.recorder.Eventf(obj, nil, eventType, c.Reason, "Update"+c.Type, "%s=%s: %s", c.Type, c.Status, c.Message)
	}
	return nil
}

// abnormal reports whether a condition says that something needs attention.
func abnormal(c metav1.Condition) bool {
	switch c.Type {
	case hotelv1alpha1.ConditionStalled, hotelv1alpha1.ConditionDegraded:
		return c.Status == metav1.ConditionTrue
	case hotelv1alpha1.ConditionNodesHealthy:
		return c.Status == metav1.ConditionFalse
	}
	return false
}
