"""A straight port of the reference notebook (lab08_model_comparisons) for testing.

Kept as close to the notebook as possible: the same numpy/torch calls in the same
order, including ``torch.Tensor(...)`` (which rounds to float32) before ``.to(float64)``.
Only two changes, both needed for it to run outside the notebook:
- module globals (device, xout, vout, trn_inds, ...) become arguments;
- the features lose the ``n_reps == 0`` rows too, like the betas (the notebook drops
  them from the betas only and then fails indexing the features). As in the notebook,
  the split is drawn over ALL image_info rows and the NaN rows are removed from the
  split masks afterwards (``trn_inds = trn_inds[good_values]``, ...).
"""
import numpy as np
import torch

RNDSEEDS = [171301, 42102, 490304, 521005, 11407, 501610, 552211, 450013, 824387]


def reference_lambdas():
    n_lambdas = 20
    return np.logspace(np.log(0.0001), np.log(10**10 + 0.01), n_lambdas,
                       dtype=np.float32, base=np.e) - 0.01


def get_r2(actual, predicted):
    ssres = np.sum(np.power((predicted - actual), 2), axis=0)
    sstot = np.sum(np.power((actual - np.mean(actual, axis=0)), 2), axis=0)
    r2 = 1 - (ssres / sstot)
    return r2


def solve_ridge_fast(xtrn, vtrn, lambdas, xout, vout, device, return_loss=False):
    n_features = xtrn.shape[1]
    mult = xtrn.T @ xtrn
    ridge_term = torch.eye(xtrn.size()[1], device=device, dtype=torch.float64)
    lambda_matrices = torch.stack([(mult + ridge_term * l).inverse() for l in lambdas], axis=0)
    cofactor = torch.tensordot(lambda_matrices, xtrn, dims=[[2], [1]])
    weights = torch.tensordot(cofactor, vtrn, dims=[[2], [0]])
    pred = torch.tensordot(xout, weights, dims=[[1], [1]])
    loss = torch.sum(torch.pow(vout[:, None, :] - pred, 2), dim=0)
    loss = loss.cpu().numpy()
    weights_use = torch.zeros((n_features, vtrn.shape[1]), device=device, dtype=weights.dtype)
    best = np.zeros(vtrn.shape[1], dtype=int)
    for vi in range(vtrn.shape[1]):
        best_lambda_ind = np.argmin(loss[:, vi])
        best[vi] = best_lambda_ind
        weights_use[:, vi] = weights[best_lambda_ind, :, vi]
    if return_loss:
        return weights_use, best, loss
    return weights_use, best


def make_split(info, seed):
    """The notebook's split over all image_info rows (before any row is dropped)."""
    val_inds = np.array(info['shared1000'])
    pct_holdout = 0.10
    n_images_total = info.shape[0]
    n_images_notval = np.sum(~val_inds)
    n_images_holdout = int(np.ceil(n_images_notval * pct_holdout))
    n_images_trn = n_images_notval - n_images_holdout
    inds_notval = np.where(~val_inds)[0]
    np.random.seed(seed)
    np.random.shuffle(inds_notval)
    inds_trn = inds_notval[0:n_images_trn]
    inds_holdout = inds_notval[n_images_trn:]
    trn_inds = np.isin(np.arange(0, n_images_total), inds_trn)
    holdout_inds = np.isin(np.arange(0, n_images_total), inds_holdout)
    return trn_inds, val_inds, holdout_inds


def split_normalize_feats(f, trn_inds, val_inds, holdout_inds):
    f_trn = f[trn_inds, :]
    f_val = f[val_inds, :]
    f_out = f[holdout_inds, :]
    f_concat = np.concatenate([f_trn, f_out], axis=0)
    features_m = np.mean(f_concat, axis=0, keepdims=True)
    features_s = np.std(f_concat, axis=0, keepdims=True) + 1e-6
    f_trn -= features_m
    f_trn /= features_s
    f_out -= features_m
    f_out /= features_s
    f_val -= features_m
    f_val /= features_s
    f_trn = np.concatenate([f_trn, np.ones(shape=(len(f_trn), 1), dtype=f_trn.dtype)], axis=1)
    f_out = np.concatenate([f_out, np.ones(shape=(len(f_out), 1), dtype=f_out.dtype)], axis=1)
    f_val = np.concatenate([f_val, np.ones(shape=(len(f_val), 1), dtype=f_val.dtype)], axis=1)
    return f_trn, f_val, f_out


def get_roi_vox(rinfo, roi_name):
    voxel_mask = rinfo['voxel_mask']
    if roi_name in rinfo['ret_prf_roi_names']:
        ind_num = rinfo['ret_prf_roi_names'][roi_name]
        roi_inds = rinfo['roi_labels_retino'][voxel_mask] == ind_num
    elif roi_name in rinfo['floc_face_roi_names']:
        ind_num = rinfo['floc_face_roi_names'][roi_name]
        roi_inds = rinfo['roi_labels_face'][voxel_mask] == ind_num
    elif roi_name in rinfo['floc_place_roi_names']:
        ind_num = rinfo['floc_place_roi_names'][roi_name]
        roi_inds = rinfo['roi_labels_place'][voxel_mask] == ind_num
    elif roi_name in rinfo['floc_body_roi_names']:
        ind_num = rinfo['floc_body_roi_names'][roi_name]
        roi_inds = rinfo['roi_labels_body'][voxel_mask] == ind_num
    elif roi_name == 'all':
        roi_inds = np.ones((np.sum(rinfo['voxel_mask']),), dtype=bool)
    return roi_inds


def fit_model(f, voxel_data, split, voxel_inds, lambdas, device='cpu'):
    """One notebook cell: fit a feature matrix f and return (r2, best lambda index)."""
    trn_inds, val_inds, holdout_inds = split
    vtrn = torch.Tensor(voxel_data[trn_inds][:, voxel_inds]).to(device).to(torch.float64)
    vout = torch.Tensor(voxel_data[holdout_inds][:, voxel_inds]).to(device).to(torch.float64)
    vval = torch.Tensor(voxel_data[val_inds][:, voxel_inds]).to(device).to(torch.float64)
    f_trn, f_val, f_out = split_normalize_feats(f, trn_inds, val_inds, holdout_inds)
    xtrn = torch.Tensor(f_trn).to(device).to(torch.float64)
    xout = torch.Tensor(f_out).to(device).to(torch.float64)
    xval = torch.Tensor(f_val).to(device).to(torch.float64)
    weights_use, best = solve_ridge_fast(xtrn, vtrn, lambdas, xout, vout, device)
    pred = xval @ weights_use
    r2 = get_r2(vval.cpu().numpy(), pred.cpu().numpy())
    return r2, best


def run_pipeline(betas, info, rinfo, fdata, seed, roi_name='all', pairs=()):
    """The notebook's whole analysis: per-layer R2, best layer, variance partitions."""
    good_values = ~np.isnan(betas[:, 0])
    voxel_data = betas[good_values, :]
    trn_inds, val_inds, holdout_inds = make_split(info, seed)
    # remove nan rows here
    trn_inds = trn_inds[good_values]
    val_inds = val_inds[good_values]
    holdout_inds = holdout_inds[good_values]
    split = (trn_inds, val_inds, holdout_inds)
    fdata = {k: v[good_values] for k, v in fdata.items()}
    voxel_inds = get_roi_vox(rinfo, roi_name)
    lambdas = reference_lambdas()
    out = {'r2': {}, 'best': {}, 'partition': {}}
    for layer, f in fdata.items():
        out['r2'][layer], out['best'][layer] = fit_model(f, voxel_data, split, voxel_inds, lambdas)
    layers = list(fdata)
    out['best_layer'] = np.argmax(np.stack([out['r2'][l] for l in layers]), axis=0)
    for a, b in pairs:
        f_concat = np.concatenate([fdata[a], fdata[b]], axis=1)
        r2_concat, best = fit_model(f_concat, voxel_data, split, voxel_inds, lambdas)
        unique_a = r2_concat - out['r2'][b]
        unique_b = r2_concat - out['r2'][a]
        shared = r2_concat - unique_a - unique_b
        out['partition'][(a, b)] = dict(r2_joint=r2_concat, best=best, unique_a=unique_a,
                                         unique_b=unique_b, shared=shared)
    return out
