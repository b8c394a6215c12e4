/* hs-application.h: the AdwApplication: app actions, accelerators, the engine worker, the
 * history and the model store. */
#pragma once

#include <adwaita.h>

#include "hs-engine-worker.h"
#include "hs-history.h"
#include "hs-model-store.h"

G_BEGIN_DECLS

#define HS_TYPE_APPLICATION (hs_application_get_type())
G_DECLARE_FINAL_TYPE(HsApplication, hs_application, HS, APPLICATION, AdwApplication)

HsApplication *hs_application_new(GApplicationFlags flags);
/* The worker shared by the windows; NULL before startup and after shutdown. */
HsEngineWorker *hs_application_get_worker(HsApplication *self);
/* The history and the model store shared by the windows; NULL outside startup..shutdown. */
HsHistory *hs_application_get_history(HsApplication *self);
HsModelStore *hs_application_get_model_store(HsApplication *self);

G_END_DECLS
